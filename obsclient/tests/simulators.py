"""Starting the real device simulators on loopback for the tests: alpaca-simulators and indiserver."""

from __future__ import annotations

import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import yaml
from obsclient.drivers.simulator import catalogue_stars

ALPACA_EXECUTABLE = shutil.which("alpaca-simulators") or str(Path(sys.executable).parent / "alpaca-simulators")
INDI_DRIVERS = ["indi_simulator_telescope", "indi_simulator_ccd", "indi_simulator_wheel", "indi_simulator_weather"]

needs_alpaca = pytest.mark.skipif(
    not Path(ALPACA_EXECUTABLE).exists(), reason="alpaca-simulators is not installed (pip install alpaca-simulators)"
)
needs_indi = pytest.mark.skipif(
    shutil.which("indiserver") is None or any(shutil.which(d) is None for d in INDI_DRIVERS),
    reason="indiserver and the INDI simulators are not installed (apt-get install indi-bin)",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen[bytes], grace_sec: float) -> None:
    process.terminate()
    try:
        process.wait(grace_sec)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@contextmanager
def alpaca_simulator(
    folder: Path, *, ra_deg: float, dec_deg: float, latitude: float, longitude: float
) -> Iterator[str]:
    """alpaca-simulators on a free port, with a local star catalogue around (ra, dec) so it never queries Gaia
    online; yields its address (host:port)."""
    import alpaca_simulators

    database = folder / "gaia.db"
    with closing(sqlite3.connect(database)) as db, db:
        db.execute("CREATE TABLE gaia_sources (ra REAL, dec REAL, pmra REAL, pmdec REAL, phot_g_mean_mag REAL)")
        star_ra, star_dec, star_mag = catalogue_stars(ra_deg, dec_deg, 1.0)
        # And a bright star right where the tests point, so every frame shows at least one.
        star_ra, star_dec = np.append(star_ra, ra_deg), np.append(star_dec, dec_deg)
        star_mag = np.append(star_mag, 8.0)
        db.executemany(
            "INSERT INTO gaia_sources VALUES (?, ?, 0, 0, ?)",
            zip(star_ra.tolist(), star_dec.tolist(), star_mag.tolist(), strict=True),
        )
    template = Path(alpaca_simulators.__file__).parent / "config" / "template.yaml"
    config: dict[str, Any] = yaml.safe_load(template.read_text())
    camera = config["devices"]["camera"][0]
    camera.update(cameraxsize=256, cameraysize=256, numx=256, numy=256, pixelsizex=3.76, pixelsizey=3.76)
    telescope = config["devices"]["telescope"][0]
    telescope.update(
        slew_rate=90.0, focallength=1.0, aperturediameter=0.2, sitelatitude=latitude, sitelongitude=longitude
    )
    config["devices"]["dome"][0].update(shutterstatus=1)
    config["tap_source"] = str(database)
    config["gaia_query_timeout"] = 5
    config_path = folder / "simulators.yaml"
    config_path.write_text(yaml.safe_dump(config))

    address = f"127.0.0.1:{free_port()}"
    host, port = address.split(":")
    with (folder / "alpaca-simulators.log").open("w") as log:
        process = subprocess.Popen(
            [ALPACA_EXECUTABLE, "--host", host, "--port", port, "--config", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    requests.get(f"http://{address}/api/v1/safetymonitor/0/issafe", timeout=1).raise_for_status()
                    break
                except requests.RequestException:
                    if process.poll() is not None or time.monotonic() > deadline:
                        log.flush()
                        pytest.fail(
                            "alpaca-simulators did not start: " + (folder / "alpaca-simulators.log").read_text()[-2000:]
                        )
                    time.sleep(0.2)
            yield address
        finally:
            _stop(process, 3)  # uvicorn would wait for the clients' keep-alive connections


def alpaca_set_safe(address: str, safe: bool) -> None:
    requests.put(
        f"http://{address}/api/v1/safetymonitor/0/issafe",
        data={"IsSafe": str(safe), "ClientTransactionID": 1},
        timeout=5,
    ).raise_for_status()


def alpaca_value(address: str, device: str, prop: str) -> Any:
    return requests.get(f"http://{address}/api/v1/{device}/0/{prop}", timeout=5).json()["Value"]


def alpaca_driver_settings(address: str) -> dict[str, Any]:
    return {
        "driver.kind": "alpaca",
        "driver.alpaca": {
            "address": address,
            "telescope": 0,
            "camera": 0,
            "filterwheel": 0,
            "focuser": 0,
            "dome": 0,
            "safetymonitor": 0,
            "observingconditions": 0,
        },
        "site.filters": ["Red", "Green", "Clear"],
        "site.instrument": None,  # so the camera's own name goes into INSTRUME
    }


@contextmanager
def indi_server(folder: Path) -> Iterator[int]:
    """indiserver with the telescope, CCD, filter wheel and weather simulators on a free port; yields the port."""
    port = free_port()
    with (folder / "indiserver.log").open("w") as log:
        # A private HOME (the simulators keep settings such as the park position under ~/.indi) and a private
        # local socket (-u; the default /tmp/indiserver is shared by every indiserver on the machine).
        process = subprocess.Popen(
            ["indiserver", "-p", str(port), "-u", f"/tmp/obsclient-indiserver-{port}", *INDI_DRIVERS],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={"HOME": str(folder), "PATH": "/usr/bin:/bin:/usr/local/bin"},
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        log.flush()
                        pytest.fail("indiserver did not start: " + (folder / "indiserver.log").read_text()[-2000:])
                    time.sleep(0.1)
            yield port
        finally:
            _stop(process, 5)


def indi_driver_settings(port: int) -> dict[str, Any]:
    return {
        "driver.kind": "indi",
        "driver.indi": {
            "port": port,
            "telescope": "Telescope Simulator",
            "ccd": "CCD Simulator",
            "filterwheel": "Filter Simulator",
            "weather": "Weather Simulator",
        },
        "site.filters": ["Red", "Green", "Luminance"],
        "site.instrument": None,  # so the camera's own name goes into INSTRUME
    }


def indi_mount_near(driver: Any, ra_deg: float, dec_deg: float) -> None:
    """Sync the simulated INDI mount close to where the test points and make that its park position: the
    simulator slews at a few degrees a second, and the tests are about the protocol, not the wait."""
    driver._set_switch("telescope", "ON_COORD_SET", "SYNC")
    driver._set_numbers("telescope", "EQUATORIAL_EOD_COORD", {"RA": ra_deg / 15, "DEC": dec_deg - 0.5})
    driver._wait_idle("telescope", "EQUATORIAL_EOD_COORD", "Number", "sync", 10)
    driver._set_switch("telescope", "TELESCOPE_PARK_OPTION", "PARK_CURRENT")
    time.sleep(0.3)
