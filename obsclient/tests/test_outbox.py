import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from fakeserver import FakeServer
from obsclient.api import ServerClient
from obsclient.outbox import DONE, PENDING_IMAGE, PENDING_OBSERVATION, REJECTED, Outbox, backoff_sec

SRC = Path(__file__).resolve().parent.parent / "src"


def make_item(tmp_path: Path) -> tuple[dict, Path]:
    observation_id = str(uuid.uuid4())
    frame = tmp_path / f"{observation_id}.fits"
    fits.PrimaryHDU(np.zeros((16, 16), dtype=np.int16)).writeto(frame)
    body = {
        "observation_id": observation_id,
        "target_id": str(uuid.uuid4()),
        "observed_at": "2026-11-23T06:01:30.000Z",
        "exposure_sec": 60,
        "filter": "R",
    }
    return body, frame


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_grows_exponentially_and_is_capped() -> None:
    rng = random.Random(1)
    delays = [backoff_sec(n, base_sec=10, max_sec=300, rng=rng) for n in range(1, 9)]
    ceilings = [10, 20, 40, 80, 160, 300, 300, 300]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert 0.75 * ceiling <= delay <= ceiling
    assert backoff_sec(0, base_sec=10, max_sec=300) == 0


def test_observation_and_image_leave_the_outbox_only_when_acknowledged(tmp_path: Path, fake_server: FakeServer) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    body, frame = make_item(tmp_path)
    outbox.add(body, frame)
    client = ServerClient(fake_server.url, api_key=fake_server.site_key)

    fake_server.fail("PUT", "/image", 503)
    report = outbox.flush(client)
    assert report.observations_sent == 1 and report.images_sent == 0 and report.deferred == 1
    item = outbox.get(body["observation_id"])
    assert item is not None and item.state == PENDING_IMAGE and item.attempts == 1
    assert "503" in (item.last_error or "")

    # Not due yet: the backoff holds it back.
    assert outbox.flush(client).images_sent == 0

    outbox.db.execute("UPDATE outbox SET next_attempt_at = 0")
    assert outbox.flush(client).images_sent == 1
    assert outbox.get(body["observation_id"]).state == DONE
    assert list(fake_server.images) == [body["observation_id"]]
    assert outbox.depth() == 0


def test_server_down_keeps_everything_and_backs_off(tmp_path: Path) -> None:
    clock = FakeClock()
    outbox = Outbox(tmp_path / "outbox.sqlite3", backoff_base_sec=10, backoff_max_sec=60, clock=clock)
    body, frame = make_item(tmp_path)
    outbox.add(body, frame)
    client = ServerClient("http://127.0.0.1:9", api_key="x" * 43, timeout_sec=2)  # discard port: refused
    waits = []
    for _ in range(6):
        report = outbox.flush(client)
        assert report.server_unreachable and report.deferred == 1
        item = outbox.get(body["observation_id"])
        waits.append(item.next_attempt_at - clock.now)
        assert outbox.flush(client).deferred == 0  # not due yet: no request at all
        clock.now = item.next_attempt_at
    assert outbox.depth() == 1
    assert 7.5 <= waits[0] <= 10 < waits[1] <= 20 < waits[2] <= 40 < waits[3] <= 60
    assert 45 <= waits[5] <= 60


def test_unreachable_server_stops_the_flush_at_the_first_failure(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    for _ in range(3):
        outbox.add(*make_item(tmp_path))
    report = outbox.flush(ServerClient("http://127.0.0.1:9", api_key="x" * 43, timeout_sec=2))
    assert report.deferred == 1 and report.server_unreachable
    assert outbox.depth() == 3


def test_refused_item_is_kept_for_a_human_not_retried(tmp_path: Path, fake_server: FakeServer) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    body, frame = make_item(tmp_path)
    outbox.add(body, frame)
    fake_server.fail("POST", "/observations", 409)
    report = outbox.flush(ServerClient(fake_server.url, api_key=fake_server.site_key))
    assert report.rejected == 1
    assert outbox.get(body["observation_id"]).state == REJECTED
    assert outbox.summary()["rejected"] == 1
    assert outbox.retry_rejected() == 1
    outbox.flush(ServerClient(fake_server.url, api_key=fake_server.site_key))
    assert outbox.get(body["observation_id"]).state == DONE


def test_adding_the_same_observation_twice_keeps_one(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    body, frame = make_item(tmp_path)
    outbox.add(body, frame)
    outbox.add(body, frame)
    assert len(outbox.items()) == 1


FLUSH_SCRIPT = """
import sys
sys.path.insert(0, {src!r})
from pathlib import Path
from obsclient.api import ServerClient
from obsclient.outbox import Outbox
outbox = Outbox(Path({db!r}))
print("flushing", flush=True)
outbox.flush(ServerClient({url!r}, api_key={key!r}, timeout_sec=60))
"""


@pytest.mark.slow
def test_killed_mid_upload_then_restarted_delivers_exactly_once(tmp_path: Path) -> None:
    server = FakeServer()
    server.start()
    try:
        db = tmp_path / "outbox.sqlite3"
        outbox = Outbox(db)
        items = [make_item(tmp_path) for _ in range(2)]
        for body, frame in items:
            outbox.add(body, frame)
        outbox.close()

        # The agent process dies (power cut, kill -9) while the server is receiving the first image.
        server.hang_image_put.set()
        script = FLUSH_SCRIPT.format(src=str(SRC), db=str(db), url=server.url, key=server.site_key)
        process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while not any(method == "PUT" and path.endswith("/image") for method, path in server.requests):
            assert time.monotonic() < deadline, "the upload never started"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        assert server.images == {}
        assert len(server.observations) == 1

        # Restart: the server is healthy again; a fresh process resumes from the outbox.
        server.hang_image_put.clear()
        server.release.set()
        outbox = Outbox(db)
        assert {item.state for item in outbox.items()} == {PENDING_IMAGE, PENDING_OBSERVATION}
        report = outbox.flush(ServerClient(server.url, api_key=server.site_key))
        assert report.images_sent == 2
        # And once more, as a crash right after the server's answer would cause: nothing new arrives.
        outbox.db.execute("UPDATE outbox SET state = 'observation'")
        outbox.flush(ServerClient(server.url, api_key=server.site_key))
    finally:
        server.stop()
    posted = [path for method, path in server.requests if method == "POST"]
    assert sorted(server.observations) == sorted(body["observation_id"] for body, _ in items)
    assert sorted(server.images) == sorted(body["observation_id"] for body, _ in items)
    assert len(posted) == 4  # each observation re-sent once after the simulated crash ...
    assert len(server.observations) == 2  # ... and stored once: idempotent by observation_id
    assert all(item.state == DONE for item in outbox.items())
    assert json.loads(json.dumps(outbox.summary()))["pending"] == 0
