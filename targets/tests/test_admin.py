"""The coordinator console (Django admin): pages load, actions do what they say, observations stay read-only."""

from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from alerts.models import Alert
from campaigns.models import Campaign, CampaignTarget
from observations.models import Observation
from sites.keys import key_hash
from sites.models import Site
from targets.models import Target
from targets.services import sky_cell_of
from targets.tests.factories import CampaignFactory, TargetFactory, UserFactory, make_site


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Users are made per test; the production hasher's deliberate slowness would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def console(db):
    """A coordinator signed in to the admin: staff, without any model permission granted one by one."""
    client = Client()
    client.force_login(UserFactory(username="console-coordinator", is_staff=True))
    return client


@pytest.fixture
def network(db):
    owner = UserFactory(username="owner")
    site, key = make_site(owner=owner, name="Sonoran Skies")
    target = TargetFactory(name="WASP-12 b", aliases=["WASP-12"], min_observations=2)
    campaign = CampaignFactory(name="Transit timing", kind=Campaign.Kind.TRANSIT)
    CampaignTarget.objects.create(campaign=campaign, target=target)
    observation = Observation.objects.create(
        site=site,
        target=target,
        observed_at=timezone.now() - timedelta(hours=1),
        filter="R",
        exposure_sec=60,
        photometry={"magnitude": 11.62, "error": 0.008},
        quality_flags=["poor_seeing"],
        content_hash="0" * 64,
        pipeline_state=Observation.PipelineState.FAILED,
        pipeline_error="no stars found",
    )
    alert = Alert.objects.create(
        source="TNS", external_id="2026abc", alert_type="SN candidate", ra_deg=150.1, dec_deg=-2.3,
        target=target, decision="Made a target: position good to 0.0001 deg.",
    )  # fmt: skip
    return {
        "site": site, "key": key, "target": target, "campaign": campaign, "observation": observation, "alert": alert,
    }  # fmt: skip


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _action(client, model: str, action: str, objects, **extra):
    url = reverse(f"admin:{model}_changelist")
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(o.pk) for o in objects], "index": 0, **extra}
    return client.post(url, data, follow=True)


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("sites_site", "site"),
        ("targets_target", "target"),
        ("campaigns_campaign", "campaign"),
        ("observations_observation", "observation"),
        ("alerts_alert", "alert"),
    ],
)
def test_changelist_and_change_page_load_for_a_coordinator(console, network, model, key):
    obj = network[key]
    changelist = console.get(reverse(f"admin:{model}_changelist"))
    assert changelist.status_code == 200
    assert str(obj) in changelist.content.decode() or getattr(obj, "name", "") in changelist.content.decode()
    change = console.get(reverse(f"admin:{model}_change", args=[obj.pk]))
    assert change.status_code == 200


@pytest.mark.parametrize("model", ["sites_site", "targets_target", "campaigns_campaign"])
def test_add_pages_load(console, db, model):
    assert console.get(reverse(f"admin:{model}_add")).status_code == 200


def test_changelist_search_and_filters_work(console, network):
    base = reverse("admin:targets_target_changelist")
    assert "WASP-12 b" in console.get(base + "?q=wasp-12").content.decode()
    assert "WASP-12 b" in console.get(base + "?target_type__exact=exoplanet&active__exact=1").content.decode()
    sites = reverse("admin:sites_site_changelist")
    assert "Sonoran Skies" in console.get(sites + "?online=yes").content.decode()
    assert "Sonoran Skies" not in console.get(sites + "?online=no").content.decode()
    observations = reverse("admin:observations_observation_changelist")
    for query in ["?pipeline_state__exact=failed", "?target__target_type__exact=exoplanet", "?has_image=no"]:
        response = console.get(observations + query)
        assert response.status_code == 200
        assert "WASP-12 b" in response.content.decode()


def test_target_search_finds_a_target_by_its_alias(console, db):
    TargetFactory(name="HD 209458 b", aliases=["Osiris"])
    TargetFactory(name="KELT-9 b")
    page = console.get(reverse("admin:targets_target_changelist") + "?q=osiris").content.decode()
    assert "HD 209458 b" in page
    assert "KELT-9 b" not in page


def test_target_page_links_to_its_observations(console, network):
    page = console.get(reverse("admin:targets_target_change", args=[network["target"].pk])).content.decode()
    url = reverse("admin:observations_observation_changelist") + f"?target__id__exact={network['target'].pk}"
    assert url in page
    listed = console.get(url)
    assert listed.status_code == 200
    assert "poor_seeing" in listed.content.decode()


def test_site_page_shows_online_status_but_never_the_key_hash(console, network):
    site = network["site"]
    page = console.get(reverse("admin:sites_site_change", args=[site.pk])).content.decode()
    assert site.api_key_hash not in page
    assert "api_key_hash" not in page
    assert site.api_key_prefix in page
    assert "s ago" in page  # heartbeat age of a site that just reported
    listing = console.get(reverse("admin:sites_site_changelist")).content.decode()
    assert site.api_key_hash not in listing


def test_approve_and_unapprove_actions(console, network):
    site = network["site"]
    Site.objects.filter(pk=site.pk).update(approved=False)
    response = _action(console, "sites_site", "approve", [site])
    assert response.status_code == 200
    assert Site.objects.get(pk=site.pk).approved is True
    _action(console, "sites_site", "unapprove", [site])
    assert Site.objects.get(pk=site.pk).approved is False


def test_deactivate_action_takes_a_site_offline(console, network):
    site = network["site"]
    _action(console, "sites_site", "deactivate", [site])
    site.refresh_from_db()
    assert site.is_active is False
    assert site.is_online() is False


def test_rotate_key_shows_the_new_key_once_and_the_old_key_stops_working(console, network):
    site, old_key = network["site"], network["key"]
    response = _action(console, "sites_site", "rotate_key", [site])
    messages = _messages(response)
    assert len(messages) == 1
    new_key = messages[0].split("<code>")[1].split("</code>")[0]
    assert len(new_key) >= 43
    site.refresh_from_db()
    assert site.api_key_hash == key_hash(new_key)
    assert site.api_key_hash != key_hash(old_key)

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {old_key}")
    assert api.put(f"/api/v1/sites/{site.pk}/heartbeat", {}, format="json").status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {new_key}")
    assert api.put(f"/api/v1/sites/{site.pk}/heartbeat", {}, format="json").status_code == 200
    # The key is not shown again.
    page = console.get(reverse("admin:sites_site_change", args=[site.pk])).content.decode()
    assert new_key not in page


def test_adding_a_site_in_the_console_shows_its_key_once(console, db):
    owner = UserFactory(username="new-owner")
    data = {
        "owner": owner.pk, "name": "Namib Dome", "latitude": -23.46, "longitude": 18.02, "elevation_m": 1344,
        "timezone": "Africa/Windhoek", "filters": '["V", "R"]', "horizon": "[]", "mount_type": "equatorial",
        "automation_level": "robotic", "min_altitude_deg": 20, "twilight_sun_altitude_deg": -12, "embargo_days": 0,
    }  # fmt: skip
    response = console.post(reverse("admin:sites_site_add"), data, follow=True)
    assert response.status_code == 200
    site = Site.objects.get(name="Namib Dome")
    shown = [m for m in _messages(response) if "API key" in m]
    assert len(shown) == 1
    key = shown[0].rsplit(": ", 1)[1]
    assert site.api_key_hash == key_hash(key)


def test_activate_and_deactivate_targets(console, db):
    targets = [TargetFactory(), TargetFactory()]
    untouched = TargetFactory()
    _action(console, "targets_target", "deactivate", targets)
    assert [t.active for t in Target.objects.filter(pk__in=[t.pk for t in targets])] == [False, False]
    assert Target.objects.get(pk=untouched.pk).active is True
    _action(console, "targets_target", "activate", targets)
    assert Target.objects.filter(pk__in=[t.pk for t in targets], active=True).count() == 2


def test_raise_priority_multiplies_by_one_and_a_half_and_lifts_zero_to_one(console, db):
    busy, idle = TargetFactory(priority=4.0), TargetFactory(priority=0.0)
    _action(console, "targets_target", "raise_priority", [busy, idle])
    assert Target.objects.get(pk=busy.pk).priority == pytest.approx(6.0)
    assert Target.objects.get(pk=idle.pk).priority == pytest.approx(1.0)
    _action(console, "targets_target", "lower_priority", [busy])
    assert Target.objects.get(pk=busy.pk).priority == pytest.approx(4.0)


def test_add_to_campaign_asks_which_campaign_then_adds_the_targets(console, db):
    campaign = CampaignFactory(name="CV monitoring")
    CampaignFactory(name="Other campaign")
    already, new = TargetFactory(name="SS Cyg"), TargetFactory(name="U Gem")
    CampaignTarget.objects.create(campaign=campaign, target=already)

    form = _action(console, "targets_target", "add_to_campaign", [already, new])
    page = form.content.decode()
    assert "CV monitoring" in page and "Other campaign" in page
    assert set(campaign.targets.all()) == {already}  # nothing happens before the coordinator chooses

    done = _action(console, "targets_target", "add_to_campaign", [already, new], apply="1", campaign=campaign.pk)
    assert set(campaign.targets.all()) == {already, new}
    assert any("Added 1 target(s) to 'CV monitoring'" in m for m in _messages(done))


def test_editing_a_target_validates_like_the_api_and_keeps_the_sky_cell(console, network):
    target = network["target"]
    url = reverse("admin:targets_target_change", args=[target.pk])
    data = {
        "name": target.name, "aliases": '["WASP-12"]', "ra_deg": 120.0, "dec_deg": -45.0, "target_type": "exoplanet",
        "priority": 5, "filters": '["R"]', "windows": "[]", "comparison_stars": "[]", "metadata": "{}",
        "ephemeris": '{"epoch_bjd_tdb": 12, "period_days": 1.09}', "active": "on",
        "memberships-TOTAL_FORMS": 0, "memberships-INITIAL_FORMS": 0,
    }  # fmt: skip
    rejected = console.post(url, data)
    assert rejected.status_code == 200  # the form again, with the error
    assert "epoch_bjd_tdb" in rejected.content.decode()
    assert Target.objects.get(pk=target.pk).ra_deg == pytest.approx(97.6366)

    data["ephemeris"] = '{"epoch_bjd_tdb": 2457010.512173, "period_days": 1.09142}'
    accepted = console.post(url, data)
    assert accepted.status_code == 302
    target.refresh_from_db()
    assert (target.ra_deg, target.dec_deg) == (120.0, -45.0)
    assert target.sky_cell == sky_cell_of(120.0, -45.0)
    assert target.ephemeris["period_days"] == pytest.approx(1.09142)


def test_campaign_page_shows_targets_inline_and_progress(console, network):
    campaign, target = network["campaign"], network["target"]
    page = console.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert "memberships-0-target" in page  # the inline, with its autocomplete widget
    assert "admin-autocomplete" in page
    assert "1 observations from 1 site(s)" in page
    assert f"<td>{target.min_observations}</td>" in page  # wanted
    assert "50%" in page


def test_campaign_inline_adds_a_target(console, network):
    campaign = network["campaign"]
    extra = TargetFactory(name="HAT-P-7 b")
    membership = campaign.memberships.get()
    data = {
        "name": campaign.name, "description": "", "kind": "transit", "priority_boost": 1.5, "redundancy": 2,
        "is_active": "on",
        "memberships-TOTAL_FORMS": 2, "memberships-INITIAL_FORMS": 1,
        "memberships-0-id": membership.pk, "memberships-0-campaign": campaign.pk,
        "memberships-0-target": membership.target_id,
        "memberships-1-campaign": campaign.pk, "memberships-1-target": extra.pk, "memberships-1-notes": "bright",
    }  # fmt: skip
    response = console.post(reverse("admin:campaigns_campaign_change", args=[campaign.pk]), data)
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert set(campaign.targets.values_list("name", flat=True)) == {"WASP-12 b", "HAT-P-7 b"}
    assert campaign.priority_boost == 1.5


def test_target_autocomplete_answers_for_the_campaign_inline(console, network):
    url = reverse("admin:autocomplete") + "?app_label=campaigns&model_name=campaigntarget&field_name=target&term=wasp"
    response = console.get(url)
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["WASP-12 b"]


def test_observations_are_read_only_for_everyone(console, network):
    observation = network["observation"]
    superuser = Client()
    superuser.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    for client in (console, superuser):
        change_url = reverse("admin:observations_observation_change", args=[observation.pk])
        page = client.get(change_url)
        assert page.status_code == 200
        body = page.content.decode()
        assert "poor_seeing" in body and "no stars found" in body and "Failed" in body
        assert 'name="_save"' not in body
        assert client.get(reverse("admin:observations_observation_add")).status_code == 403
        assert client.post(change_url, {"filter": "V"}).status_code == 403
        delete_url = reverse("admin:observations_observation_delete", args=[observation.pk])
        assert client.post(delete_url, {"post": "yes"}).status_code == 403
    observation.refresh_from_db()
    assert observation.filter == "R"


def test_alerts_are_listed_with_their_target_and_read_only(console, network):
    alert, target = network["alert"], network["target"]
    page = console.get(reverse("admin:alerts_alert_changelist")).content.decode()
    assert "2026abc" in page and "TNS" in page
    assert reverse("admin:targets_target_change", args=[target.pk]) in page
    assert console.get(reverse("admin:alerts_alert_add")).status_code == 403
    change = console.get(reverse("admin:alerts_alert_change", args=[alert.pk])).content.decode()
    assert 'name="_save"' not in change


def test_non_staff_users_cannot_open_the_console(db, network):
    client = Client()
    client.force_login(UserFactory(username="plain-observer"))
    response = client.get(reverse("admin:targets_target_changelist"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_a_coordinator_can_create_a_campaign_with_targets_in_the_console(console, db):
    wasp, hat = TargetFactory(name="WASP-43 b"), TargetFactory(name="HAT-P-23 b")
    data = {
        "name": "Southern transits", "description": "Timing", "kind": "transit", "start_date": "2026-11-01",
        "end_date": "2027-03-01", "priority_boost": 2.0, "redundancy": 2, "is_active": "on",
        "memberships-TOTAL_FORMS": 2, "memberships-INITIAL_FORMS": 0,
        "memberships-0-target": wasp.pk, "memberships-1-target": hat.pk,
    }  # fmt: skip
    response = console.post(reverse("admin:campaigns_campaign_add"), data)
    assert response.status_code == 302
    campaign = Campaign.objects.get(name="Southern transits")
    assert campaign.created_by.username == "console-coordinator"
    assert (campaign.kind, campaign.redundancy, campaign.priority_boost) == ("transit", 2, 2.0)
    assert set(campaign.targets.all()) == {wasp, hat}
    listing = console.get(reverse("admin:campaigns_campaign_changelist")).content.decode()
    assert "Southern transits" in listing


def test_a_coordinator_can_add_a_target_in_the_console(console, db):
    data = {
        "name": "TrES-3 b", "aliases": '["TrES-3"]', "ra_deg": 268.0293, "dec_deg": 37.5462,
        "target_type": "exoplanet", "priority": 3, "filters": '["R"]', "windows": "[]", "comparison_stars": "[]",
        "metadata": "", "ephemeris": "", "active": "on",
        "memberships-TOTAL_FORMS": 0, "memberships-INITIAL_FORMS": 0,
    }  # fmt: skip
    response = console.post(reverse("admin:targets_target_add"), data)
    assert response.status_code == 302
    target = Target.objects.get(name="TrES-3 b")
    assert target.sky_cell == sky_cell_of(268.0293, 37.5462)
    assert target.metadata == {} and target.ephemeris is None
    assert Target.objects.named("tres-3").get() == target


def test_site_form_checks_the_horizon_mask_and_time_zone(console, network):
    site = network["site"]
    data = {
        "owner": site.owner_id, "name": site.name, "latitude": 31.45, "longitude": -110.22, "elevation_m": 1420,
        "timezone": "Mars/Olympus_Mons", "filters": '["V"]', "horizon": "[[0, 20], [400, 10]]",
        "mount_type": "equatorial", "automation_level": "robotic", "min_altitude_deg": 20,
        "twilight_sun_altitude_deg": -12, "embargo_days": 0, "approved": "on", "is_active": "on",
    }  # fmt: skip
    url = reverse("admin:sites_site_change", args=[site.pk])
    page = console.post(url, data).content.decode()
    assert "Unknown IANA time zone" in page and "outside 0-360" in page
    data.update(timezone="America/Phoenix", horizon="[[180, 25], [0, 15]]")
    assert console.post(url, data).status_code == 302
    site.refresh_from_db()
    assert (site.timezone, site.horizon) == ("America/Phoenix", [[0.0, 15.0], [180.0, 25.0]])


def test_add_to_campaign_works_on_all_targets_matching_the_filter(console, db):
    campaign = CampaignFactory(name="Everything variable")
    variables = [TargetFactory(target_type="variable") for _ in range(3)]
    TargetFactory(target_type="exoplanet")
    url = reverse("admin:targets_target_changelist") + "?target_type__exact=variable"
    data = {"action": "add_to_campaign", ACTION_CHECKBOX_NAME: [str(variables[0].pk)], "index": 0, "select_across": 1}
    form = console.post(url, data)
    assert "Add 3 targets to a campaign" in form.content.decode()
    console.post(url, {**data, "apply": "1", "campaign": campaign.pk})
    assert set(campaign.targets.all()) == set(variables)
