"""The agent against a real ASCOM Alpaca device server (alpaca-simulators), started on loopback by the test."""

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from fakeserver import FakeServer
from helpers import overhead_position
from obsclient.api import ServerClient
from obsclient.cli import main
from obsclient.config import load_config
from obsclient.drivers import make_driver
from obsclient.loop import Agent
from obsclient.outbox import Outbox
from simulators import (
    alpaca_driver_settings,
    alpaca_set_safe,
    alpaca_simulator,
    alpaca_value,
    needs_alpaca,
)

from conftest import write_config

LAT, LON = 28.76, -17.88

pytestmark = [pytest.mark.needs_tool, needs_alpaca]


@pytest.fixture(scope="module")
def alpaca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, float, float]]:
    """The simulator's address and the field (RA, Dec) the tests point at, chosen once so the catalogue
    covers it."""
    ra, dec = overhead_position(LAT, LON)
    with alpaca_simulator(
        tmp_path_factory.mktemp("alpaca"), ra_deg=ra, dec_deg=dec, latitude=LAT, longitude=LON
    ) as address:
        yield address, ra, dec


def alpaca_agent(tmp_path: Path, server: FakeServer, address: str, **overrides: object) -> Agent:
    config = load_config(write_config(tmp_path, server.url, **{**alpaca_driver_settings(address), **overrides}))
    driver = make_driver(config)
    driver.connect()
    return Agent(
        config, driver, ServerClient(server.url, api_key=server.site_key), Outbox(config.data_dir / "outbox.sqlite3")
    )


def test_check_reports_every_alpaca_device(
    alpaca: tuple[str, float, float], tmp_path: Path, fake_server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    agent = alpaca_agent(tmp_path, fake_server, alpaca[0])
    assert main(["-c", str(agent.config.path), "check"]) == 0
    out = capsys.readouterr().out
    for device in ("telescope", "camera", "filterwheel", "focuser", "dome", "safetymonitor", "observingconditions"):
        assert f"ok   {device}" in out


def test_full_cycle_with_alpaca_devices_uploads_a_frame_with_stars(
    alpaca: tuple[str, float, float], tmp_path: Path, fake_server: FakeServer
) -> None:
    address, ra, dec = alpaca
    alpaca_set_safe(address, True)
    fake_server.add_target(name="Alpaca field", ra_deg=ra, dec_deg=dec, filter="Green", exposure_sec=2)
    agent = alpaca_agent(tmp_path, fake_server, address)
    result = agent.cycle()
    assert result.state == "observing", result.notes
    header = fake_server.images[result.observation_id]
    assert header["INSTRUME"] == "Simulator Camera"
    assert header["FILTER"] == "Green" and header["EXPTIME"] == 2
    assert header["CCD-TEMP"] == -20.0 and header["XBINNING"] == 1
    assert (header["NAXIS1"], header["NAXIS2"]) == (256, 256)
    assert alpaca_value(address, "filterwheel", "position") == 1
    pointing = agent.driver.pointing()
    assert pointing is not None and abs(pointing[1] - dec) < 0.05
    data = fits.getdata(result.frame_path).astype(float)
    noise = 1.4826 * np.median(np.abs(data - np.median(data)))
    assert data.max() > np.median(data) + 20 * noise  # stars from the local catalogue are in the frame
    heartbeat = fake_server.heartbeats[0]
    assert heartbeat["weather"]["humidity_pct"] == 60.0 and heartbeat["safe"] is True


def test_unsafe_safety_monitor_mid_exposure_parks_before_closing(
    alpaca: tuple[str, float, float], tmp_path: Path, fake_server: FakeServer
) -> None:
    address, ra, dec = alpaca
    alpaca_set_safe(address, True)
    fake_server.add_target(name="Rain coming", ra_deg=ra, dec_deg=dec, filter="Red", exposure_sec=20)
    agent = alpaca_agent(tmp_path, fake_server, address, **{"safety.safe_for_sec": 3600})

    # Watch the hardware from outside the agent: (time, mount parked?, shutter state).
    timeline: list[tuple[float, bool, int]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            timeline.append(
                (
                    time.monotonic(),
                    bool(alpaca_value(address, "telescope", "atpark")),
                    int(alpaca_value(address, "dome", "shutterstatus")),
                )
            )
            time.sleep(0.02)

    def rain() -> None:
        while alpaca_value(address, "camera", "camerastate") != 2:  # 2 = exposing
            time.sleep(0.05)
        time.sleep(0.5)
        alpaca_set_safe(address, False)

    watcher = threading.Thread(target=watch)
    watcher.start()
    threading.Thread(target=rain).start()
    try:
        started = time.monotonic()
        result = agent.cycle()
        took = time.monotonic() - started
    finally:
        stop.set()
        watcher.join()
        alpaca_set_safe(address, True)

    assert result.state == "closed"
    assert took < 15, "the exposure was not aborted"
    assert alpaca_value(address, "telescope", "atpark") is True
    assert alpaca_value(address, "dome", "shutterstatus") == 1
    actions = [what for _, what in agent.driver.events]
    assert actions[actions.index("abort") :] == ["abort", "park", "parked", "close", "closed"]
    # Seen from outside: the shutter never moved towards closed while the mount was unparked.
    assert any(shutter == 0 for _, _, shutter in timeline)
    for _, parked, shutter in timeline:
        if shutter in (1, 3):  # closed, closing
            assert parked
    assert fake_server.heartbeats[-1]["state"] == "closed" and fake_server.heartbeats[-1]["safe"] is False
    assert fake_server.observations == {}
