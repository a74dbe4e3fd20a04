from django.utils.functional import cached_property
from rest_framework import authentication, exceptions

from sites.keys import key_hash
from sites.models import Site


class SiteAgent:
    """The principal behind a site key: acts as that one site and nothing else."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    is_active = True

    def __init__(self, site: Site):
        self.site = site
        # Distinct per site, so rate limits (keyed on the principal's pk) are per site, not shared by all sites.
        self.pk = self.id = f"site:{site.pk}"

    @cached_property
    def username(self) -> str:
        return f"site:{self.site.pk}"

    def has_perm(self, perm, obj=None) -> bool:
        return False

    def __str__(self) -> str:
        return self.username


class SiteKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <site key>` or `X-API-Key: <site key>`."""

    def authenticate(self, request):
        key = request.META.get("HTTP_X_API_KEY", "").strip()
        if not key:
            header = authentication.get_authorization_header(request).split()
            if not header or header[0].lower() != b"bearer":
                return None
            if len(header) != 2:
                raise exceptions.AuthenticationFailed("Malformed Bearer header: expected 'Bearer <site key>'.")
            try:
                key = header[1].decode("ascii")
            except UnicodeDecodeError as exc:
                raise exceptions.AuthenticationFailed("Site key has characters a key never has.") from exc
        site = Site.objects.filter(api_key_hash=key_hash(key)).first()
        if site is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked site key.")
        if not site.is_active:
            raise exceptions.AuthenticationFailed("This site is deactivated.")
        return SiteAgent(site), site

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
