"""The agent against real INDI simulators (indiserver + indi_simulator_*), started on loopback by the test."""

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from fakeserver import FakeServer
from obsclient.api import ServerClient
from obsclient.config import load_config
from obsclient.drivers import make_driver
from obsclient.loop import Agent
from obsclient.outbox import Outbox
from simulators import indi_driver_settings, indi_mount_near, indi_server, needs_indi

from conftest import write_config

pytestmark = [pytest.mark.needs_tool, needs_indi]
PyIndi = pytest.importorskip("PyIndi", reason="pyindi-client is not installed (pip install 'obsclient[indi]')")

# Dec +80 from La Palma is always at least 18.8° up, whatever the time.
FIELD_RA, FIELD_DEC = 150.0, 80.0


@pytest.fixture(scope="module")
def indi_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with indi_server(tmp_path_factory.mktemp("indi")) as port:
        yield port


def indi_agent(tmp_path: Path, server: FakeServer, port: int) -> Agent:
    config = load_config(
        write_config(tmp_path, server.url, **indi_driver_settings(port), **{"site.min_altitude_deg": 10})
    )
    driver = make_driver(config)
    driver.connect()
    return Agent(
        config, driver, ServerClient(server.url, api_key=server.site_key), Outbox(config.data_dir / "outbox.sqlite3")
    )


def test_indi_driver_slews_exposes_and_reads_the_fits_blob(indi_port: int, tmp_path: Path) -> None:
    config = load_config(
        write_config(
            tmp_path,
            "http://127.0.0.1:1",
            **{"driver.kind": "indi", "driver.indi": {"port": indi_port, "filterwheel": "Filter Simulator"}},
        )
    )
    driver = make_driver(config)
    driver.connect()
    try:
        assert driver.describe() == {
            "telescope": "ok: Telescope Simulator",
            "ccd": "ok: CCD Simulator",
            "filterwheel": "ok: Filter Simulator",
        }
        indi_mount_near(driver, FIELD_RA, FIELD_DEC)
        driver.slew(FIELD_RA, FIELD_DEC, timeout_sec=120)
        pointing = driver.pointing()
        assert pointing is not None and abs(pointing[1] - FIELD_DEC) < 0.1
        driver.set_filter("Green")
        driver.start_exposure(1.0)
        deadline = time.monotonic() + 30
        while not driver.image_ready():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        frame = driver.read_frame()
        assert frame.data.ndim == 2 and frame.data.shape == (1024, 1280)
        assert frame.cards["INSTRUME"][0] == "CCD Simulator" and "CCD-TEMP" in frame.cards
    finally:
        driver.disconnect()


def test_full_cycle_with_indi_devices_then_rain_parks_the_mount(
    indi_port: int, tmp_path: Path, fake_server: FakeServer
) -> None:
    agent = indi_agent(tmp_path, fake_server, indi_port)
    fake_server.add_target(name="INDI field", ra_deg=FIELD_RA, dec_deg=FIELD_DEC, filter="Luminance", exposure_sec=1)
    try:
        indi_mount_near(agent.driver, FIELD_RA, FIELD_DEC)
        result = agent.cycle()
        assert result.state == "observing", result.notes
        header = fake_server.images[result.observation_id]
        assert header["INSTRUME"] == "CCD Simulator" and header["FILTER"] == "Luminance"
        assert header["EXPTIME"] == 1 and header["OBJECT"] == "INDI field"
        data = fits.getdata(result.frame_path)
        assert data.shape == (1024, 1280) and np.std(data) > 0
        assert fake_server.heartbeats[0]["safe"] is True

        # Rain at the weather station: the next cycle parks the mount and reports closed.
        weather = agent.driver._device("weather")
        control = weather.getNumber("WEATHER_CONTROL")
        control.findWidgetByName("Precip").setValue(10.0)
        agent.driver.client.sendNewNumber(control)
        refresh = weather.getSwitch("WEATHER_REFRESH")
        refresh.reset()
        refresh.findWidgetByName("REFRESH").setState(PyIndi.ISS_ON)
        agent.driver.client.sendNewSwitch(refresh)
        deadline = time.monotonic() + 20
        while agent.driver.is_safe():
            assert time.monotonic() < deadline, "the weather simulator never reported rain"
            time.sleep(0.2)
        closed = agent.cycle()
        assert closed.state == "closed"
        assert agent.driver.is_parked()
        assert [what for _, what in agent.driver.events][-3:] == ["abort", "park", "parked"]
        assert fake_server.heartbeats[-1]["state"] == "closed" and fake_server.heartbeats[-1]["safe"] is False
    finally:
        agent.driver.disconnect()
