"""Writes and state changes of sites: registration, keys, heartbeats."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sites.keys import key_generate, key_hash
from sites.models import Site


def _new_key_fields() -> tuple[str, dict]:
    key = key_generate()
    return key, {"api_key_hash": key_hash(key), "api_key_prefix": key[:8], "key_rotated_at": timezone.now()}


@transaction.atomic
def site_register(*, owner, data: dict) -> tuple[Site, str]:
    """Create a site owned by `owner`; returns the site and its key (the only time the key exists in clear)."""
    key, key_fields = _new_key_fields()
    site = Site(owner=owner, approved=not settings.SITES_REQUIRE_APPROVAL, **data, **key_fields)
    site.full_clean(exclude=["api_key_hash"])
    site.save()
    return site, key


def site_rotate_key(*, site: Site) -> str:
    """Make a new key; the old one stops working at once."""
    key, key_fields = _new_key_fields()
    Site.objects.filter(pk=site.pk).update(**key_fields, updated_at=timezone.now())
    for name, value in key_fields.items():
        setattr(site, name, value)
    return key


def site_update(*, site: Site, data: dict) -> Site:
    """Write only the fields given: a full save would put back a key, state or heartbeat changed meanwhile."""
    for name, value in data.items():
        setattr(site, name, value)
    site.save(update_fields=[*data, "updated_at"])
    return site


def site_heartbeat(*, site: Site, data: dict) -> Site:
    """Record that the site is alive, with what it reports of its state, safety and weather."""
    fields = {"last_heartbeat_at": timezone.now()}
    for name in ("state", "safe", "client_version", "weather"):
        if name in data:
            fields[name] = data[name]
    if "current_target_id" in data:
        fields["current_target_id"] = data["current_target_id"]
    if "state" not in data:
        fields.setdefault("state", Site.State.IDLE if site.state == Site.State.UNKNOWN else site.state)
    Site.objects.filter(pk=site.pk).update(**fields)
    for name, value in fields.items():
        setattr(site, name, value)
    return site


def site_set_approval(*, sites, approved: bool) -> int:
    return Site.objects.filter(pk__in=[s.pk for s in sites]).update(approved=approved)
