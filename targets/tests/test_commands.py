"""Management commands: `import_targets` (CSV into the catalogue) and `seed_demo` (the demo network)."""

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from campaigns.models import Campaign
from sites.keys import key_hash
from sites.models import Site
from targets.models import Target
from targets.services import sky_cell_of
from targets.tests.factories import CampaignFactory, TargetFactory

GOOD_CSV = """\
# a comment line, ignored
name,ra_deg,dec_deg,type,magnitude,priority,aliases,filters,exposure_sec,cadence_hours,min_observations
WASP-12 b,97.6366,29.6723,exoplanet,11.6,5,WASP-12;TOI-1125,R;V,60,,20
SS Cyg,325.6783,43.5861,Variable,12.0,3,,V,60,6,
"""


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _write(tmp_path, text: str, name: str = "targets.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_creates_every_target_of_a_good_file(db, tmp_path):
    out, err = _run("import_targets", _write(tmp_path, GOOD_CSV))
    assert "Created 2 target(s)" in out
    assert err == ""
    wasp = Target.objects.get(name="WASP-12 b")
    assert (wasp.ra_deg, wasp.dec_deg, wasp.magnitude, wasp.priority) == (97.6366, 29.6723, 11.6, 5.0)
    assert wasp.aliases == ["WASP-12", "TOI-1125"]
    assert wasp.filters == ["R", "V"]
    assert (wasp.exposure_sec, wasp.min_observations) == (60.0, 20)
    assert wasp.sky_cell == sky_cell_of(97.6366, 29.6723)
    assert Target.objects.named("toi-1125").get() == wasp
    cyg = Target.objects.get(name="SS Cyg")
    assert (cyg.target_type, cyg.cadence_hours, cyg.min_observations) == ("variable", 6.0, None)


def test_import_reads_sexagesimal_coordinates(db, tmp_path):
    text = (
        "name,ra,dec,type\n"
        "WASP-12 b,06:30:32.79,+29:40:20.3,exoplanet\n"
        "WASP-19 b,09h53m40.08s,-45d39m33.1s,exoplanet\n"
        "Close to zero,00 00 36,-00 30 00,other\n"
    )
    _run("import_targets", _write(tmp_path, text))
    wasp12 = Target.objects.get(name="WASP-12 b")
    assert wasp12.ra_deg == pytest.approx(97.636625, abs=1e-6)
    assert wasp12.dec_deg == pytest.approx(29.672306, abs=1e-6)
    wasp19 = Target.objects.get(name="WASP-19 b")
    assert wasp19.ra_deg == pytest.approx(148.417, abs=1e-3)
    assert wasp19.dec_deg == pytest.approx(-45.659194, abs=1e-6)
    # A negative declination of less than a degree keeps its sign.
    near_zero = Target.objects.get(name="Close to zero")
    assert (near_zero.ra_deg, near_zero.dec_deg) == (pytest.approx(0.15), pytest.approx(-0.5))


def test_bad_rows_are_reported_with_line_numbers_and_nothing_is_saved(db, tmp_path):
    text = (
        "name,ra,dec,type,magnitude,priority\n"
        "Good one,10,20,variable,12,1\n"
        "Too far east,360.5,20,variable,12,1\n"
        "\n"
        "No such type,10,20,planetoid,12,1\n"
        "Hour 25,25:00:00,+10:00:00,other,,\n"
        "Bad numbers,10,95,other,bright,-1\n"
        "Good one,11,21,variable,12,1\n"
    )
    with pytest.raises(CommandError, match="5 bad row"):
        _run("import_targets", _write(tmp_path, text))
    assert Target.objects.count() == 0


def test_each_bad_row_says_where_and_why(db, tmp_path, capsys):
    text = (
        "name,ra,dec,type,magnitude,priority\n"
        "Good one,10,20,variable,12,1\n"
        "Too far east,360.5,20,variable,12,1\n"
        "\n"
        "No such type,10,20,planetoid,12,1\n"
        "Hour 25,25:00:00,+10:00:00,other,faint,\n"
        "Bad numbers,10,95,other,bright,-1\n"
        ",10,20,other,,\n"
        "Good one,11,21,variable,12,1\n"
    )
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_targets", _write(tmp_path, text), stdout=StringIO(), stderr=err)
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("line 3 (Too far east): ra_deg:")
    assert lines[1].startswith("line 5 (No such type): target_type:")
    assert lines[2].startswith("line 6 (Hour 25): ra_deg:") and "hours" in lines[2]
    assert "magnitude: A valid number is required." in lines[2]  # the whole row is judged, not its first fault
    assert lines[3].startswith("line 7 (Bad numbers):")
    assert "dec_deg" in lines[3] and "magnitude" in lines[3] and "priority" in lines[3]
    assert lines[4].startswith("line 8: name:")
    assert lines[5] == "line 9 (Good one): 'good one' already named on line 2"


def test_skip_bad_imports_the_good_rows(db, tmp_path):
    text = "name,ra,dec\nGood,10,20\nBad,10,-91\nAlso good,11,21\n"
    out, err = _run("import_targets", _write(tmp_path, text), "--skip-bad")
    assert set(Target.objects.values_list("name", flat=True)) == {"Good", "Also good"}
    assert "line 3 (Bad)" in err
    assert "Created 2 target(s); skipped 1 bad row(s)." in out


def test_dry_run_checks_but_saves_nothing(db, tmp_path):
    out, _ = _run("import_targets", _write(tmp_path, GOOD_CSV), "--dry-run")
    assert "2 target(s) would be created" in out
    assert Target.objects.count() == 0


def test_targets_already_in_the_catalogue_are_left_alone(db, tmp_path):
    TargetFactory(name="Existing", aliases=["WASP-12"], priority=9.0)
    out, _ = _run("import_targets", _write(tmp_path, GOOD_CSV))
    assert "line 3 (WASP-12 b): already in the catalogue" in out
    assert Target.objects.count() == 2
    assert Target.objects.get(name="Existing").priority == 9.0


def test_import_can_add_the_new_targets_to_a_campaign(db, tmp_path):
    campaign = CampaignFactory(name="Transit timing")
    _run("import_targets", _write(tmp_path, GOOD_CSV), "--campaign", "Transit timing")
    assert set(campaign.targets.values_list("name", flat=True)) == {"WASP-12 b", "SS Cyg"}
    with pytest.raises(CommandError, match="No campaign named"):
        _run("import_targets", _write(tmp_path, GOOD_CSV), "--campaign", "Nope")


def test_unusable_files_are_refused_with_a_clear_message(db, tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        _run("import_targets", str(tmp_path / "missing.csv"))
    with pytest.raises(CommandError, match="lacks required column"):
        _run("import_targets", _write(tmp_path, "name,ra\nX,10\n"))
    with pytest.raises(CommandError, match="both give ra_deg"):
        _run("import_targets", _write(tmp_path, "name,ra,ra_deg,dec\nX,10,10,5\n"))


def test_extra_columns_and_ephemeris_are_kept(db, tmp_path):
    text = (
        "name,ra,dec,type,epoch_bjd_tdb,period_days,duration_hours,reference\n"
        "HAT-P-7 b,19:28:59.36,+47:58:10.2,exoplanet,2454954.357462,2.2047354,3.95,Welsh et al. 2010\n"
    )
    _run("import_targets", _write(tmp_path, text))
    target = Target.objects.get()
    assert target.ephemeris == {"epoch_bjd_tdb": 2454954.357462, "period_days": 2.2047354, "duration_hours": 3.95}
    assert target.metadata == {"reference": "Welsh et al. 2010"}


@pytest.fixture
def seeded(db, tmp_path):
    keys_file = tmp_path / "demo_site_keys.json"
    out, _ = _run("seed_demo", "--keys-file", str(keys_file))
    return out, keys_file


def test_seed_demo_fills_an_empty_database_with_a_demo_network(seeded):
    out, keys_file = seeded
    assert Target.objects.count() >= 30
    types = set(Target.objects.values_list("target_type", flat=True))
    assert {"exoplanet", "variable", "transient"} <= types
    wasp12 = Target.objects.get(name="WASP-12 b")
    assert wasp12.ra_deg == pytest.approx(97.6366, abs=1e-3)
    assert wasp12.dec_deg == pytest.approx(29.6723, abs=1e-3)
    assert wasp12.ephemeris["period_days"] == pytest.approx(1.0914, abs=1e-4)
    assert Target.objects.filter(target_type="exoplanet", ephemeris__isnull=True).count() == 0

    assert Site.objects.count() == 3
    assert all(site.owner.username == "observer" and site.approved for site in Site.objects.all())

    users = {u.username: u for u in get_user_model().objects.all()}
    assert users["coordinator"].is_staff and users["coordinator"].is_superuser
    assert not users["observer"].is_staff and not users["researcher"].is_staff
    assert users["alertfeed"].has_perm("alerts.add_alert")
    assert not users["researcher"].has_perm("alerts.add_alert")
    assert users["observer"].check_password("observer-demo-pass")

    assert Campaign.objects.get(name="Hot Jupiter transit timing").targets.filter(name="WASP-12 b").exists()
    assert Campaign.objects.get(name="Cataclysmic variable monitoring").targets.filter(name="SS Cyg").exists()

    keys = json.loads(keys_file.read_text())["sites"]
    assert len(keys) == 3
    for entry in keys:
        site = Site.objects.get(pk=entry["site_id"])
        assert site.api_key_hash == key_hash(entry["api_key"])
        assert entry["api_key"] in out  # printed once, too


def test_seed_demo_spreads_targets_over_the_sky_and_the_sites_over_continents(seeded):
    ras = list(Target.objects.values_list("ra_deg", flat=True))
    decs = list(Target.objects.values_list("dec_deg", flat=True))
    # Something in every 3-hour slice of RA, in both hemispheres.
    assert {int(ra // 45) for ra in ras} == set(range(8))
    assert sum(d < -20 for d in decs) >= 8 and sum(d > 20 for d in decs) >= 8
    longitudes = sorted(Site.objects.values_list("longitude", flat=True))
    assert longitudes[0] < -60 and -30 < longitudes[1] < 60 and longitudes[2] > 100


def test_seed_demo_password_comes_from_the_environment(db, tmp_path, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "a-different-secret")
    _run("seed_demo", "--keys-file", str(tmp_path / "keys.json"))
    coordinator = get_user_model().objects.get(username="coordinator")
    assert coordinator.check_password("a-different-secret")


def test_seed_demo_a_second_time_changes_nothing(seeded, tmp_path):
    _, keys_file = seeded
    before = (Target.objects.count(), Site.objects.count(), Campaign.objects.count())
    hashes = set(Site.objects.values_list("api_key_hash", flat=True))
    written = keys_file.read_text()
    out, _ = _run("seed_demo", "--keys-file", str(keys_file))
    assert "already has" in out
    assert (Target.objects.count(), Site.objects.count(), Campaign.objects.count()) == before
    assert set(Site.objects.values_list("api_key_hash", flat=True)) == hashes
    assert keys_file.read_text() == written


def test_seed_demo_force_adds_nothing_twice_and_issues_fresh_working_keys(seeded):
    _, keys_file = seeded
    before = (Target.objects.count(), Site.objects.count(), Campaign.objects.count())
    old_keys = [e["api_key"] for e in json.loads(keys_file.read_text())["sites"]]
    Target.objects.filter(name="Algol").delete()

    _run("seed_demo", "--force", "--keys-file", str(keys_file))
    assert (Target.objects.count(), Site.objects.count(), Campaign.objects.count()) == before
    assert get_user_model().objects.filter(username="observer").count() == 1
    new = json.loads(keys_file.read_text())["sites"]
    hashes = set(Site.objects.values_list("api_key_hash", flat=True))
    assert {key_hash(e["api_key"]) for e in new} == hashes
    assert not {key_hash(k) for k in old_keys} & hashes
