import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from campaigns.models import Campaign
from targets.models import Target


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.LazyFunction(lambda: make_password("correct horse battery staple"))


class TargetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Target

    name = factory.Sequence(lambda n: f"Target {n}")
    ra_deg = 97.6366
    dec_deg = 29.6723
    target_type = Target.Type.EXOPLANET
    magnitude = 11.6
    priority = 5.0


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    kind = Campaign.Kind.MONITORING


def make_site(*, owner, name="Backyard 8in", online=True, **fields):
    """A registered site and its key, made through the same service the API uses."""
    from sites.services import site_register

    data = {"name": name, "latitude": 34.05, "longitude": -118.24, "elevation_m": 100.0, "filters": ["V", "R"]}
    data.update(fields)
    site, key = site_register(owner=owner, data=data)
    if online:
        site.last_heartbeat_at = timezone.now()
        site.state = site.State.IDLE
        site.save(update_fields=["last_heartbeat_at", "state"])
    return site, key
