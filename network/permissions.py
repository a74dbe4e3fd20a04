"""Who may do what (API.md, "Credentials and who may do what")."""

from rest_framework.permissions import SAFE_METHODS, BasePermission


def acting_site(request):
    """The site behind a site key, or None for a human (or anonymous) caller."""
    return getattr(request.user, "site", None)


def is_coordinator(user) -> bool:
    return bool(getattr(user, "is_staff", False))


def is_human(user) -> bool:
    return bool(user and user.is_authenticated and acting_site_of(user) is None)


def acting_site_of(user):
    return getattr(user, "site", None)


class IsHuman(BasePermission):
    """A signed-in person (observer, researcher, coordinator); not a site key."""

    message = "This needs a person's credentials (session or personal token), not a site key."

    def has_permission(self, request, view):
        return is_human(request.user)


class IsCoordinator(BasePermission):
    message = "Only coordinators may do this."

    def has_permission(self, request, view):
        return is_human(request.user) and is_coordinator(request.user)


class IsSiteAgent(BasePermission):
    message = "This needs a site key (Authorization: Bearer <site key>)."

    def has_permission(self, request, view):
        return acting_site(request) is not None


class ReadHumanWriteCoordinator(BasePermission):
    """Anyone signed in (people and sites) reads; coordinators write."""

    message = "Only coordinators may change this."

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        if request.method in SAFE_METHODS:
            return True
        return is_human(request.user) and is_coordinator(request.user)


class CanSubmitAlerts(BasePermission):
    message = "This token's user lacks the permission to add alerts (alerts.add_alert)."

    def has_permission(self, request, view):
        user = request.user
        return is_human(user) and (is_coordinator(user) or user.has_perm("alerts.add_alert"))
