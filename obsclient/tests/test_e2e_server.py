"""End to end: the agent against the real Django server (pytest-django's live_server, test database).

An observer gets a token and registers the site with `obsclient register`; a coordinator adds a target; the
agent (simulator driver) runs a cycle and the observation and its image arrive. Then the server becomes
unreachable mid-run: the observation waits in the outbox and arrives, exactly once, when the server is back.
Skipped where Django and the server apps are not importable (e.g. `pip install ./obsclient` alone).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from conftest import write_config

if (
    not os.environ.get("DJANGO_SETTINGS_MODULE")  # set by pytest-django from the repository's pytest settings
    or importlib.util.find_spec("pytest_django") is None
    or importlib.util.find_spec("observations") is None
):
    # Module level, before the django_db marker and live_server fixture are used: without pytest-django both
    # are unknown to pytest.
    pytest.skip("needs the network server (Django, pytest-django and the server apps)", allow_module_level=True)


class TcpSwitch:
    """A TCP forwarder in front of the live server that the test can cut and restore: a server outage as the
    agent sees it (connections refused), without stopping the server under the test database."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.listener: socket.socket | None = None
        self.connections: list[socket.socket] = []

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        if self.listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would leave it accepting.
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
            self.listener = None
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        self.connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self.connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def night_site() -> tuple[float, float]:
    """A latitude/longitude where it is deep night right now, so the server's scheduler hands out targets
    whatever time the test runs."""
    from astropy import units as u
    from astropy.coordinates import AltAz, EarthLocation, get_sun
    from astropy.time import Time

    now = Time(datetime.now(UTC))
    sun = get_sun(now)
    best = min(
        range(-170, 180, 10),
        key=lambda lon: (
            sun.transform_to(AltAz(obstime=now, location=EarthLocation.from_geodetic(lon * u.deg, 20 * u.deg))).alt.deg
        ),
    )
    return 20.0, float(best)


@pytest.fixture
def switch(live_server) -> Iterator[TcpSwitch]:  # type: ignore[no-untyped-def]
    port = int(live_server.url.rsplit(":", 1)[1])
    tcp = TcpSwitch(port)
    tcp.up()
    yield tcp
    tcp.down()


def token_for(base_url: str, username: str, password: str) -> str:
    answer = requests.post(
        f"{base_url}/api/v1/auth/token", json={"username": username, "password": password}, timeout=10
    )
    answer.raise_for_status()
    return answer.json()["token"]


def register_site(url: str, tmp_path: Path, **overrides: object) -> tuple[Path, str, float, float]:
    """An observer and a coordinator, and a site registered with `obsclient register` where it is night now.
    Returns the agent's configuration, the coordinator's token and the site's latitude and longitude."""
    from django.contrib.auth import get_user_model
    from obsclient.cli import main

    users = get_user_model()
    users.objects.create_user("observer", password="observer-pass-1")
    users.objects.create_user("coordinator", password="coordinator-pass-1", is_staff=True)
    observer_token = token_for(url, "observer", "observer-pass-1")
    coordinator_token = token_for(url, "coordinator", "coordinator-pass-1")
    latitude, longitude = night_site()
    settings = {
        "server.api_key": None,
        "server.api_key_file": "site.key",
        "site.site_id": None,
        "site.latitude": latitude,
        "site.longitude": longitude,
        "site.elevation_m": 100,
        "site.limiting_mag": 17.5,
        "site.filters": ["V", "R"],
        **overrides,
    }
    config_path = write_config(tmp_path, url, **settings)
    assert main(["-c", str(config_path), "register", "--token", observer_token]) == 0
    return config_path, coordinator_token, latitude, longitude


def add_target(url: str, token: str, **fields: object) -> None:
    body = {"target_type": "variable", "magnitude": 11.0, "priority": 5.0, **fields}
    created = requests.post(f"{url}/api/v1/targets", headers={"Authorization": f"Token {token}"}, json=body, timeout=10)
    assert created.status_code == 201, created.text


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_agent_registers_observes_and_delivers_exactly_once_across_an_outage(
    live_server,  # type: ignore[no-untyped-def]
    switch: TcpSwitch,
    tmp_path: Path,
) -> None:
    from helpers import overhead_position
    from obsclient.api import ServerClient
    from obsclient.cli import main
    from obsclient.config import load_config
    from obsclient.drivers import make_driver
    from obsclient.loop import Agent
    from obsclient.outbox import DONE, Outbox

    from observations.models import Observation

    url = f"http://127.0.0.1:{switch.port}"
    config_path, coordinator_token, latitude, longitude = register_site(url, tmp_path)
    assert stat.S_IMODE((tmp_path / "site.key").stat().st_mode) == 0o600
    config = load_config(config_path)
    assert config.site.site_id and config.api_key_value()
    ra, dec = overhead_position(latitude, longitude)
    add_target(url, coordinator_token, name="E2E star", ra_deg=ra, dec_deg=dec, filters=["R"], exposure_sec=30)

    assert main(["-c", str(config_path), "check"]) == 0

    # One full cycle: heartbeat, targets, observe, outbox, upload.
    assert main(["-c", str(config_path), "run", "--once"]) == 0
    first = Observation.objects.get()
    assert first.target.name == "E2E star"
    assert first.filter == "R" and first.exposure_sec == 30
    assert first.image and first.image_header["OBJECT"] == "E2E star"
    assert str(first.site_id) == config.site.site_id

    # Server outage mid-run: the agent keeps observing from its last list; the frame waits in the outbox.
    driver = make_driver(config)
    driver.connect()
    outbox = Outbox(config.data_dir / "outbox.sqlite3", backoff_base_sec=1, backoff_max_sec=2)
    agent = Agent(config, driver, ServerClient(url, api_key=config.api_key_value(), timeout_sec=5), outbox)
    switch.down()
    offline = agent.cycle()
    assert offline.state == "observing" and offline.target_name == "E2E star"
    assert outbox.depth() == 1
    assert Observation.objects.count() == 1

    # Back online: it arrives, and sending it all again (as after a crash) changes nothing on the server.
    switch.up()
    outbox.db.execute("UPDATE outbox SET next_attempt_at = 0")
    outbox.flush(agent.client)
    assert outbox.depth() == 0
    outbox.db.execute("UPDATE outbox SET state = 'observation'")
    outbox.flush(agent.client)
    assert all(item.state == DONE for item in outbox.items())
    ids = sorted(str(pk) for pk in Observation.objects.values_list("pk", flat=True))
    assert ids == sorted([str(first.pk), offline.observation_id])
    second = Observation.objects.get(pk=offline.observation_id)
    assert second.image and second.image_header["OBSID"] == offline.observation_id
    outbox.close()
    driver.disconnect()


@pytest.mark.slow
@pytest.mark.needs_tool
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["alpaca", "indi"])
def test_one_cycle_with_each_hardware_simulator_reaches_the_server(
    kind: str,
    live_server,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    import simulators
    from helpers import overhead_position
    from obsclient.cli import main
    from obsclient.config import load_config
    from obsclient.drivers import make_driver

    from observations.models import Observation

    if kind == "alpaca" and simulators.needs_alpaca.args[0]:
        pytest.skip(simulators.needs_alpaca.kwargs["reason"])
    if kind == "indi" and (simulators.needs_indi.args[0] or importlib.util.find_spec("PyIndi") is None):
        pytest.skip("indiserver, the INDI simulators or pyindi-client are not installed")

    latitude, longitude = night_site()
    ra, dec = overhead_position(latitude, longitude)
    folder = tmp_path / "simulator"
    folder.mkdir()
    if kind == "alpaca":
        running = simulators.alpaca_simulator(folder, ra_deg=ra, dec_deg=dec, latitude=latitude, longitude=longitude)
    else:
        running = simulators.indi_server(folder)
    with running as where:
        if kind == "alpaca":
            settings, filter_name, camera = simulators.alpaca_driver_settings(where), "Red", "Simulator Camera"
        else:
            settings, filter_name, camera = simulators.indi_driver_settings(where), "Luminance", "CCD Simulator"
        config_path, coordinator_token, _, _ = register_site(live_server.url, tmp_path, **settings)
        add_target(
            live_server.url,
            coordinator_token,
            name=f"{kind} field",
            ra_deg=ra,
            dec_deg=dec,
            filters=[filter_name],
            exposure_sec=2,
        )
        if kind == "indi":
            driver = make_driver(load_config(config_path))
            driver.connect()
            try:
                simulators.indi_mount_near(driver, ra, dec)
            finally:
                driver.disconnect()

        assert main(["-c", str(config_path), "run", "--once"]) == 0

    observation = Observation.objects.get()
    assert observation.target.name == f"{kind} field"
    assert observation.filter == filter_name and observation.exposure_sec == 2
    assert observation.image and observation.image_header["INSTRUME"] == camera
    assert observation.image_header["OBJECT"] == f"{kind} field"
