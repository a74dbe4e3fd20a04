"""Feed pollers: off until configured, fed recorded samples through a mocked HTTP layer (never the internet)."""

import copy
import datetime as dt
import json
from pathlib import Path

import pytest
import requests

from alerts import pollers, tasks
from alerts.models import Alert, DeadLetter
from targets.models import Target

pytestmark = pytest.mark.django_db
DATA = Path(__file__).parent / "data"
SHARED = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()
GAIA_HEADER = "#Name, Date, RaDeg, DecDeg, AlertMag, HistoricMag, HistoricStdDev, Class, Published, Comment, TNSid"


FEED_SETTINGS = [
    "ALERTS_TNS_API_KEY", "ALERTS_TNS_BOT_ID", "ALERTS_TNS_BOT_NAME", "ALERTS_TNS_URL", "ALERTS_GAIA_URL",
    "ALERTS_FINK_URL", "ALERTS_FINK_CLASSES", "ALERTS_ALERCE_URL", "ALERTS_ALERCE_CLASSES", "ALERTS_LASAIR_TOKEN",
    "ALERTS_LASAIR_STREAM", "ALERTS_LASAIR_URL",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _no_feed_configured(settings, monkeypatch):
    """Start from a clone's defaults whatever this machine's environment or .env says."""
    for name in FEED_SETTINGS:
        monkeypatch.delenv(name, raising=False)
        setattr(settings, name, "")


class FakeWeb:
    """Stands in for `requests.Session.request`: answers by URL prefix, records what was asked."""

    def __init__(self, routes: dict[str, object]):
        self.routes = routes
        self.calls: list[tuple[str, str, dict]] = []

    def __call__(self, session, method, url, **kwargs):
        self.calls.append((method, url, kwargs))
        for prefix, answer in self.routes.items():
            if url.startswith(prefix):
                if callable(answer):
                    answer = answer(method, url, kwargs)
                status, body = answer if isinstance(answer, tuple) else (200, answer)
                response = requests.Response()
                response.status_code = status
                response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
                response.url = url
                return response
        raise requests.ConnectionError(f"no route to {url} in the test")


@pytest.fixture
def web(monkeypatch):
    def install(routes):
        fake = FakeWeb(routes)
        monkeypatch.setattr(requests.Session, "request", lambda self, method, url, **kw: fake(self, method, url, **kw))
        return fake

    return install


def _recent(days_ago: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)).strftime("%Y-%m-%d %H:%M:%S")


def test_every_poller_is_off_until_configured(web, settings):
    fake = web({})
    for name in pollers.POLLERS:
        report = pollers.feed_poll(pollers.POLLERS[name]())
        assert not report.configured and report.error is None, name
    assert fake.calls == []


def test_gaia_poller_ingests_recent_rows_and_dead_letters_a_bad_one(web, settings):
    settings.ALERTS_GAIA_URL = "https://gaia.example/alerts.csv"
    csv = "\n".join([
        GAIA_HEADER,
        f'Gaia26aaa,{_recent(1)},150.00010,-20.00020,16.10,19.00,0.10,"SN",{_recent(0.5)},"new transient",AT2026aaa',
        f'Gaia26aab,{_recent(2)},210.50000,10.25000,15.00,15.50,0.05,"ULENS",{_recent(1)},"microlensing",',
        f'Gaia26bad,{_recent(2)},210.50000,95.00000,15.00,15.50,0.05,"SN",{_recent(1)},"broken dec",',
        'Gaia19old,2019-04-18 18:14:33,189.38565,-66.11136,14.44,14.82,0.05,"unknown",2019-04-20 22:11:34,"old",',
    ])  # fmt: skip
    web({"https://gaia.example/": csv.encode()})
    report = pollers.feed_poll(pollers.GaiaPoller())
    assert report.error is None
    assert (report.alerts, report.created, report.dead_letters) == (2, 2, 1)
    assert Alert.objects.get(external_id="Gaia26aaa").ra_deg == 150.0001
    assert Target.objects.named("Gaia26aaa").exists()
    letter = DeadLetter.objects.get()
    assert letter.feed == "poller:gaia" and "Gaia26bad" in letter.body and "Dec" in letter.error
    # Polling again updates, never duplicates.
    again = pollers.feed_poll(pollers.GaiaPoller())
    assert (again.created, again.updated) == (0, 2) and Alert.objects.count() == 2


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data not present")
def test_gaia_poller_reads_the_recorded_alerts_csv(web, settings):
    settings.ALERTS_GAIA_URL = "https://gaia.example/alerts.csv"
    settings.ALERTS_GAIA_MAX_AGE_DAYS = 100_000  # the recorded rows are years old
    web({"https://gaia.example/": (SHARED / "gaia_alerts" / "gaia_alerts_notable.csv").read_bytes()})
    report = pollers.feed_poll(pollers.GaiaPoller())
    assert report.created == 7 and report.dead_letters == 0
    assert Alert.objects.get(external_id="Gaia21bty").dec_deg == -37.13727


def test_tns_poller_searches_then_fetches_each_object(web, settings):
    settings.ALERTS_TNS_API_KEY = "k" * 40
    settings.ALERTS_TNS_BOT_ID = "12345"
    settings.ALERTS_TNS_BOT_NAME = "our_bot"
    objects = {
        "2026abc": {"objname": "2026abc", "name_prefix": "AT", "radeg": 150.1, "decdeg": -2.3,
                    "discoverydate": _recent(1), "discoverymag": 17.2, "discmagfilter": {"name": "r"},
                    "object_type": {"name": None}, "internal_names": "ZTF26aaabbbb"},
        "2026abd": {"objname": "2026abd", "name_prefix": "SN", "ra": "10:00:00.00", "dec": "-05:00:00.0",
                    "discoverydate": _recent(2), "discoverymag": 16.0, "object_type": {"name": "SN Ia"}},
    }  # fmt: skip

    def object_reply(method, url, kwargs):
        assert method == "POST" and kwargs["data"]["api_key"] == "k" * 40
        assert kwargs["headers"]["User-Agent"].startswith('tns_marker{"tns_id": "12345"')
        name = json.loads(kwargs["data"]["data"])["objname"]
        return {"id_code": 200, "id_message": "OK", "data": objects[name]} if name in objects else (404, b"")

    search = {"id_code": 200, "id_message": "OK", "data": [{"objname": n} for n in objects]}
    fake = web(
        {"https://www.wis-tns.org/api/get/search": search, "https://www.wis-tns.org/api/get/object": object_reply}
    )
    report = pollers.feed_poll(pollers.TNSPoller())
    assert report.error is None and report.created == 2, report
    assert len(fake.calls) == 3
    abd = Alert.objects.get(source="TNS", external_id="2026abd")
    assert (abd.ra_deg, abd.dec_deg) == (150.0, -5.0)
    assert Target.objects.named("ZTF26aaabbbb").exists()


def test_fink_poller_splits_objects_and_dead_letters_a_row_without_position(web, settings):
    settings.ALERTS_FINK_URL = "https://fink.example"
    settings.ALERTS_FINK_CLASSES = "SN candidate"
    rows = json.loads((DATA / "brokers" / "fink_ztf_objects_ZTF19aaosfcb.json").read_text())
    twin = copy.deepcopy(rows)
    for row in twin:
        row["i:objectId"] = "ZTF26twin"
        row["i:ra"] = row["i:ra"] + 10
        row["i:candid"] = int(row["i:candid"]) + 7
    broken = [{**copy.deepcopy(rows[0]), "i:objectId": "ZTF26broken", "i:ra": None, "i:dec": None}]
    fake = web({"https://fink.example/api/v1/latests": rows + twin + broken})
    report = pollers.feed_poll(pollers.FinkPoller())
    assert fake.calls[0][2]["json"]["class"] == "SN candidate"
    assert (report.messages, report.created, report.dead_letters) == (3, 2, 1), report
    assert Alert.objects.filter(source="Fink", name="ZTF19aaosfcb").get().ra_deg == pytest.approx(284.6506076)
    assert "ZTF26broken" in DeadLetter.objects.get().body


def test_alerce_poller_reads_the_objects_page(web, settings):
    settings.ALERTS_ALERCE_URL = "https://alerce.example/ztf/v1"
    settings.ALERTS_ALERCE_CLASSES = "SNIa"
    item = json.loads((DATA / "brokers" / "alerce_ztf_object_ZTF18abcgqmz.json").read_text())
    page = {"total": 2, "page": 1, "items": [item, {"oid": "ZTF26bad", "meanra": "not a number", "meandec": 1}]}
    fake = web({"https://alerce.example/ztf/v1/objects/": page})
    report = pollers.feed_poll(pollers.AlercePoller())
    assert fake.calls[0][2]["params"]["class_name"] == "SNIa"
    assert (report.created, report.dead_letters) == (1, 1), report
    assert Alert.objects.get(external_id="ZTF18abcgqmz").dec_deg == pytest.approx(-4.8708879)


def test_lasair_poller_reads_a_stream_then_each_object(web, settings):
    settings.ALERTS_LASAIR_TOKEN = "t0ken"
    settings.ALERTS_LASAIR_STREAM = "2SN-likecandidates"
    body = (DATA / "brokers" / "lasair_lsst_object_169342390923427937.json").read_bytes()
    fake = web({
        "https://lasair-ztf.lsst.ac.uk/api/streams/2SN-likecandidates/": [{"objectId": "169342390923427937"}] * 2,
        "https://lasair-ztf.lsst.ac.uk/api/object/": body,
    })  # fmt: skip
    report = pollers.feed_poll(pollers.LasairPoller())
    assert report.created == 1 and len(fake.calls) == 2, report
    assert fake.calls[1][2]["headers"]["Authorization"] == "Token t0ken"
    assert Alert.objects.get(source="Lasair").ra_deg == pytest.approx(8.719437971881556)


def test_http_failure_is_reported_not_raised(web, settings):
    settings.ALERTS_GAIA_URL = "https://gaia.example/alerts.csv"
    web({"https://gaia.example/": (503, b"busy")})
    report = pollers.feed_poll(pollers.GaiaPoller())
    assert "503" in report.error and Alert.objects.count() == 0 and DeadLetter.objects.count() == 0
    web({})  # no route: a connection error
    assert "ConnectionError" in pollers.feed_poll(pollers.GaiaPoller()).error


def test_beat_task_polls_when_configured(web, settings):
    settings.ALERTS_GAIA_URL = "https://gaia.example/alerts.csv"
    row = f'Gaia26ccc,{_recent(1)},15.0,15.0,16.1,19.0,0.1,"SN",{_recent(0.5)},"x",'
    web({"https://gaia.example/": f"{GAIA_HEADER}\n{row}\n".encode()})
    result = tasks.alerts_poll_gaia_task.delay().get()
    assert result["created"] == 1
    assert tasks.alerts_poll_tns_task.delay().get()["configured"] is False


def test_environment_configures_a_feed_too(web, monkeypatch):
    monkeypatch.setenv("ALERTS_GAIA_URL", "https://gaia.example/alerts.csv")
    assert pollers.GaiaPoller().configured()
    monkeypatch.setenv("ALERTS_GAIA_URL", "")
    assert not pollers.GaiaPoller().configured()


def test_poll_command_runs_named_feeds_and_refuses_unknown_ones(web, capsys):
    from django.core.management import CommandError, call_command

    web({})
    call_command("alerts_poll", "gaia", "tns")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["feed"], r["configured"]) for r in lines] == [("gaia", False), ("tns", False)]
    with pytest.raises(CommandError, match="Unknown feed"):
        call_command("alerts_poll", "twitter")
