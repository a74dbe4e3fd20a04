"""The default stack for real: web server + Celery worker on the embedded (SQLite) broker, no eager mode.

A site registers, submits an observation and uploads a FITS frame over HTTP; the worker process picks the frame
up from the embedded broker and the pipeline state moves on, as `make run` does it on a fresh clone.
"""

import io
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import requests
from astropy.io import fits

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _frame() -> bytes:
    rng = np.random.default_rng(1)
    data = rng.poisson(800, (128, 128)).astype(np.uint16)
    hdu = fits.PrimaryHDU(data)
    hdu.header.update({"DATE-OBS": "2026-11-23T06:00:30", "EXPTIME": 60.0, "FILTER": "R", "OBJECT": "WASP-12"})
    buffer = io.BytesIO()
    hdu.writeto(buffer)
    return buffer.getvalue()


def test_uploaded_frame_is_processed_by_a_real_worker_on_the_embedded_broker(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "network.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "CELERY_BROKER_URL": f"sqla+sqlite:///{tmp_path}/broker.sqlite3",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    run = {"cwd": ROOT, "env": env, "check": True, "capture_output": True, "text": True}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], **run)
    setup = (
        "from django.contrib.auth.models import User; from rest_framework.authtoken.models import Token;"
        "from targets.models import Target;"
        "u=User.objects.create_user('obs', password='x'); print('TOKEN', Token.objects.create(user=u).key);"
        "print('TARGET', Target.objects.create(name='WASP-12 b', ra_deg=97.6366, dec_deg=29.6723).pk)"
    )
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", setup], **run).stdout
    values = dict(line.split(" ", 1) for line in out.splitlines() if line.startswith(("TOKEN", "TARGET")))
    port = _free_port()
    bin_dir = Path(sys.executable).parent
    logs = open(tmp_path / "stack.log", "w")  # noqa: SIM115 - outlives the block: the processes write to it
    worker = subprocess.Popen(
        [str(bin_dir / "celery"), "-A", "network", "worker", "--pool=solo", "--loglevel=info"],
        cwd=ROOT, env=env, stdout=logs, stderr=subprocess.STDOUT,
    )  # fmt: skip
    web = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=logs, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/status", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.2)
        people = {"Authorization": f"Token {values['TOKEN']}"}
        site = requests.post(f"{base}/sites", json={"name": "E2E", "latitude": 34, "longitude": -118},
                             headers=people, timeout=10).json()  # fmt: skip
        agent = {"Authorization": f"Bearer {site['api_key']}"}
        obs_id = str(uuid.uuid4())
        body = {"observation_id": obs_id, "target_id": values["TARGET"], "observed_at": "2026-11-23T06:01:00Z",
                "exposure_sec": 60, "filter": "R"}  # fmt: skip
        assert requests.post(f"{base}/observations", json=body, headers=agent, timeout=10).status_code == 201
        upload = requests.put(f"{base}/observations/{obs_id}/image", data=_frame(),
                              headers={**agent, "Content-Type": "application/fits"}, timeout=30)  # fmt: skip
        assert upload.status_code == 202, upload.text
        state = None
        for _ in range(120):
            state = requests.get(f"{base}/observations/{obs_id}", headers=agent, timeout=10).json()["pipeline"]
            if state["state"] in ("done", "failed"):
                break
            time.sleep(0.5)
        logs.flush()
        assert state["state"] in ("done", "failed"), (tmp_path / "stack.log").read_text()[-3000:]
        assert state["state"] == "done" or state["error"], "a failed frame says why"
    finally:
        for proc in (web, worker):
            proc.terminate()
        for proc in (web, worker):
            proc.wait(timeout=20)
        logs.close()
