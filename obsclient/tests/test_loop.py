import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from astropy.io import fits
from fakeserver import FakeServer
from helpers import overhead_position
from obsclient.api import ServerClient, iso_utc, parse_time
from obsclient.cli import main
from obsclient.config import load_config
from obsclient.drivers import make_driver
from obsclient.drivers.base import DriverError
from obsclient.loop import Agent
from obsclient.outbox import Outbox
from obsclient.safety import SafetyGuard

from conftest import write_config

LAT, LON = 28.76, -17.88


def make_agent(tmp_path: Path, server: FakeServer, **overrides: object) -> Agent:
    config = load_config(write_config(tmp_path, server.url, **overrides))
    driver = make_driver(config)
    driver.connect()
    outbox = Outbox(config.data_dir / "outbox.sqlite3", backoff_base_sec=1, backoff_max_sec=2)
    return Agent(config, driver, ServerClient(server.url, api_key=server.site_key), outbox)


def test_one_cycle_observes_the_first_target_and_uploads_it(tmp_path: Path, fake_server: FakeServer) -> None:
    ra, dec = overhead_position(LAT, LON)
    target = fake_server.add_target(
        name="WASP-12 b", ra_deg=ra, dec_deg=dec, magnitude=11.6, filter="R", exposure_sec=45
    )
    agent = make_agent(tmp_path, fake_server)
    result = agent.cycle()

    assert result.state == "observing" and result.target_name == "WASP-12 b"
    assert fake_server.heartbeats[0]["state"] == "observing"
    assert fake_server.heartbeats[0]["safe"] is True
    assert fake_server.heartbeats[0]["client_version"]
    observation = fake_server.observations[result.observation_id]
    assert observation["target_id"] == target["target_id"]
    assert observation["filter"] == "R" and observation["exposure_sec"] == 45
    header = fake_server.images[result.observation_id]
    start = datetime.fromisoformat(header["DATE-OBS"]).replace(tzinfo=UTC)
    mid = parse_time(observation["observed_at"])
    assert abs((mid - (start + timedelta(seconds=22.5))).total_seconds()) < 0.002
    assert header["OBJECT"] == "WASP-12 b" and header["FILTER"] == "R" and header["EXPTIME"] == 45
    assert 1.0 <= observation["airmass"] < 1.2
    assert agent.outbox.depth() == 0
    with fits.open(result.frame_path) as hdul:  # the site keeps its own copy
        assert hdul[0].header["OBSID"] == result.observation_id


def test_targets_the_site_cannot_do_now_are_skipped(tmp_path: Path, fake_server: FakeServer) -> None:
    ra, dec = overhead_position(LAT, LON)
    soon = iso_utc(datetime.now(UTC) + timedelta(seconds=30))
    fake_server.add_target(name="Below the horizon", ra_deg=(ra + 180) % 360, dec_deg=-dec)
    fake_server.add_target(name="Setting soon", ra_deg=ra, dec_deg=dec, observable_until=soon)
    fake_server.add_target(name="Wrong filter", ra_deg=ra, dec_deg=dec, filter="Halpha")
    fake_server.add_target(name="Doable", ra_deg=ra, dec_deg=dec, filter="v")
    result = make_agent(tmp_path, fake_server).cycle()
    assert result.target_name == "Doable"
    assert fake_server.observations[result.observation_id]["filter"] == "V"


def test_horizon_mask_blocks_a_target_above_the_minimum_altitude(tmp_path: Path, fake_server: FakeServer) -> None:
    ra, dec = overhead_position(LAT, LON)  # 70° up, due south
    fake_server.add_target(name="Behind the tree", ra_deg=ra, dec_deg=dec)
    agent = make_agent(tmp_path, fake_server, **{"site.horizon": [[0, 10], [170, 75], [190, 75], [270, 10]]})
    assert agent.cycle().state == "idle"
    assert fake_server.observations == {}


def test_no_observing_while_the_sun_is_up(tmp_path: Path, fake_server: FakeServer) -> None:
    ra, dec = overhead_position(LAT, LON)
    fake_server.add_target(name="Anything", ra_deg=ra, dec_deg=dec)
    agent = make_agent(tmp_path, fake_server, **{"observing.max_sun_altitude_deg": -12})
    noon = datetime(2026, 6, 21, 13, 30, tzinfo=UTC)  # local noon at La Palma
    agent.now = lambda: noon
    assert agent.pick(fake_server.targets) is None


def test_server_outage_keeps_observing_from_the_last_list_and_delivers_later(tmp_path: Path) -> None:
    server = FakeServer()
    server.start()
    ra, dec = overhead_position(LAT, LON)
    until = iso_utc(datetime.now(UTC) + timedelta(hours=2))
    server.add_target(name="Cached", ra_deg=ra, dec_deg=dec, observable_until=until)
    agent = make_agent(tmp_path, server)
    first = agent.cycle()
    assert first.state == "observing" and agent.outbox.depth() == 0

    server.stop()  # the server goes away for a while
    offline = [agent.cycle() for _ in range(2)]
    assert [r.target_name for r in offline] == ["Cached", "Cached"]
    assert agent.outbox.depth() == 2
    assert json.loads((agent.config.data_dir / "state.json").read_text())["state"] == "observing"

    server.start()  # back on the same port
    agent.outbox.db.execute("UPDATE outbox SET next_attempt_at = 0")  # skip the backoff wait
    agent.outbox.flush(agent.client)
    assert agent.outbox.depth() == 0
    server.stop()
    assert sorted(server.observations) == sorted([first.observation_id] + [r.observation_id for r in offline])
    assert sorted(server.images) == sorted(server.observations)


def test_expired_cached_targets_are_not_observed(tmp_path: Path, fake_server: FakeServer) -> None:
    ra, dec = overhead_position(LAT, LON)
    agent = make_agent(tmp_path, fake_server)
    (agent.config.data_dir).mkdir(parents=True, exist_ok=True)
    past = iso_utc(datetime.now(UTC) - timedelta(minutes=1))
    agent.targets_path.write_text(
        json.dumps(
            {"targets": [{"target_id": "t", "name": "Old", "ra_deg": ra, "dec_deg": dec, "observable_until": past}]}
        )
    )
    agent.client = ServerClient("http://127.0.0.1:9", api_key="x" * 43, timeout_sec=2)
    assert agent.cycle().state == "idle"


def test_unsafe_mid_exposure_aborts_parks_then_closes_and_reports_closed(
    tmp_path: Path, fake_server: FakeServer
) -> None:
    ra, dec = overhead_position(LAT, LON)
    fake_server.add_target(name="Interrupted", ra_deg=ra, dec_deg=dec, exposure_sec=3)
    agent = make_agent(tmp_path, fake_server, **{"driver.simulator.realtime": True, "safety.safe_for_sec": 3600})
    driver = agent.driver
    threading.Timer(0.7, lambda: setattr(driver, "safe", False)).start()
    result = agent.cycle()

    assert result.state == "closed"
    actions = [what for _, what in driver.events]
    assert actions[-5:] == ["expose", "abort", "park", "parked", "close"]
    assert driver.is_parked() and driver.enclosure_closed()
    assert fake_server.heartbeats[-1]["state"] == "closed" and fake_server.heartbeats[-1]["safe"] is False
    assert fake_server.observations == {}  # an aborted frame is not an observation

    # Safe again, but not yet for safety.safe_for_sec: stays closed and says so.
    driver.safe = True
    again = agent.cycle()
    assert again.state == "closed" and driver.enclosure_closed()
    assert fake_server.heartbeats[-1]["state"] == "closed"
    assert fake_server.target_queries == [fake_server.target_queries[0]]  # asked for targets only before closing


def test_observing_resumes_after_safe_for_the_configured_time(tmp_path: Path, fake_server: FakeServer) -> None:
    ra, dec = overhead_position(LAT, LON)
    fake_server.add_target(name="Later", ra_deg=ra, dec_deg=dec)
    agent = make_agent(tmp_path, fake_server, **{"safety.safe_for_sec": 600})
    clock = [0.0]
    agent.safety.clock = lambda: clock[0]
    agent.driver.safe = False
    assert agent.cycle().state == "closed"
    agent.driver.safe = True
    clock[0] = 10
    assert agent.cycle().state == "closed"
    clock[0] = 300
    agent.driver.safe = False  # a shower resets the wait
    assert agent.cycle().state == "closed"
    agent.driver.safe = True
    clock[0] = 400
    assert agent.cycle().state == "closed"
    clock[0] = 1001
    assert agent.cycle().state == "observing"
    assert not agent.driver.enclosure_closed()


class SilentSensors:
    """A driver whose sensors stop answering."""

    def __init__(self) -> None:
        self.answering = True
        self.parked = False
        self.closed = False
        self.events: list[str] = []

    def is_safe(self) -> bool:
        if not self.answering:
            raise DriverError("timed out")
        return True

    def conditions(self) -> None:
        return None


def test_silent_sensors_count_as_unsafe_after_the_timeout(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, "http://127.0.0.1:1", **{"safety.sensor_timeout_sec": 120}))
    driver = SilentSensors()
    clock = [0.0]
    guard = SafetyGuard(driver, config.safety, clock=lambda: clock[0])  # type: ignore[arg-type]
    assert guard.check().safe
    driver.answering = False
    clock[0] = 60
    assert guard.check().safe  # a short glitch: the last reading is still fresh
    clock[0] = 121
    verdict = guard.check()
    assert not verdict.safe and "safety monitor is silent" in verdict.reasons[0]


def test_no_sensors_at_all_is_unsafe_unless_explicitly_allowed(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, "http://127.0.0.1:1"))
    driver = SilentSensors()
    driver.is_safe = lambda: None  # type: ignore[method-assign]
    assert not SafetyGuard(driver, config.safety).check().safe  # type: ignore[arg-type]
    allowed = load_config(write_config(tmp_path, "http://127.0.0.1:1", **{"safety.allow_without_sensors": True}))
    assert SafetyGuard(driver, allowed.safety).check().safe  # type: ignore[arg-type]


def test_clock_offset_from_server_time_is_warned_about(
    tmp_path: Path, fake_server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake_server.server_time_offset_sec = -30.0
    agent = make_agent(tmp_path, fake_server)
    with caplog.at_level(logging.WARNING):
        agent.cycle()
    assert agent.clock_offset_sec == pytest.approx(30.0, abs=1.0)
    assert "system clock is 30.0 s ahead of the server's" in caplog.text.replace("29.9", "30.0").replace("30.1", "30.0")
    assert json.loads(agent.state_path.read_text())["clock_offset_sec"] == pytest.approx(30.0, abs=1.0)


def test_run_once_from_the_command_line_then_status(
    tmp_path: Path, fake_server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    ra, dec = overhead_position(LAT, LON)
    fake_server.add_target(name="CLI target", ra_deg=ra, dec_deg=dec)
    path = write_config(tmp_path, fake_server.url)
    assert main(["-c", str(path), "run", "--once"]) == 0
    assert len(fake_server.observations) == 1 and len(fake_server.images) == 1
    capsys.readouterr()
    assert main(["-c", str(path), "status"]) == 0
    out = capsys.readouterr().out
    assert "outbox:      0 waiting, 1 uploaded, 0 refused" in out
    assert "last cycle:" in out and "CLI target" in out
    assert "camera: ok: simulated" in out
