"""`GET /api/v1/targets` end to end over HTTP with N active targets, and bulk-loading them through the API.

Starts a real server (gunicorn, one worker) on a fresh SQLite (or $DATABASE_URL) database, loads N targets with
`POST /api/v1/targets` in lists of 10,000, registers a site, then asks for its targets many times with `at`
changing on every request (so no whole-answer cache can carry it). Prints a table.

    .venv/bin/python bench/bench_api_ranking.py [--targets 100000] [--requests 200]
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(env, *args):
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="bench-api-")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "network.settings", "MEDIA_ROOT": f"{tmp}/media",
           "API_THROTTLE_USER": "1000000/min", "API_THROTTLE_ANON": "1000000/min"}  # fmt: skip
    env.setdefault("DATABASE_URL", f"sqlite:///{tmp}/bench.sqlite3")
    manage(env, "migrate", "--noinput")
    setup = (
        "from django.contrib.auth.models import User; from rest_framework.authtoken.models import Token;"
        "u=User.objects.create_user('bench', is_staff=True, password='x'); print(Token.objects.create(user=u).key)"
    )
    token = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", setup], cwd=ROOT, env=env, check=True, capture_output=True,
        text=True,
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "network.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "1", "--timeout", "300", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/status", timeout=30)
                break
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.1)
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        rng = np.random.default_rng(42)
        n = args.targets
        ra = rng.uniform(0, 360, n)
        dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
        mag = rng.uniform(6, 18, n)
        pri = rng.uniform(0.5, 10, n)
        started = time.perf_counter()
        for lo in range(0, n, 10_000):
            chunk = [
                {"name": f"B{i}", "ra_deg": float(ra[i]), "dec_deg": float(dec[i]), "magnitude": float(mag[i]),
                 "priority": float(pri[i]), "target_type": "variable"}
                for i in range(lo, min(n, lo + 10_000))
            ]  # fmt: skip
            r = session.post(f"{base}/targets", data=json.dumps(chunk), headers={"Content-Type": "application/json"})
            r.raise_for_status()
        load_s = time.perf_counter() - started

        site = session.post(f"{base}/sites", json={"name": "Bench", "latitude": 31.7, "longitude": -110.9,
                                                    "limiting_mag": 17.0, "filters": ["V", "R"]}).json()  # fmt: skip
        site_session = requests.Session()
        site_session.headers["Authorization"] = f"Bearer {site['api_key']}"
        site_session.put(f"{base}/sites/{site['site_id']}/heartbeat", json={"state": "idle", "safe": True})

        night = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
        site_session.get(f"{base}/targets", params={"at": night.isoformat()}).raise_for_status()  # warm up
        times_ms, listed = [], []
        for i in range(args.requests):
            at = (night + timedelta(seconds=37 * i)).isoformat().replace("+00:00", "Z")
            t0 = time.perf_counter()
            r = site_session.get(f"{base}/targets", params={"at": at, "count": 10})
            times_ms.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
            listed.append(len(r.json()["targets"]))
        times_ms.sort()
        p50 = statistics.median(times_ms)
        p95 = times_ms[int(0.95 * (len(times_ms) - 1))]
        print(f"\nGET /api/v1/targets over HTTP, {n:,} active targets, {args.requests} requests, `at` changing"
              f" every request ({env['DATABASE_URL'].split(':')[0]}, gunicorn 1 worker)")  # fmt: skip
        print(f"| {'measure':44} | {'value':>12} |")
        print(f"|{'-' * 46}|{'-' * 14}|")
        print(f"| {'bulk load through POST /api/v1/targets':44} | {load_s:10.1f} s |")
        print(f"| {'ranked answer p50':44} | {p50:9.1f} ms |")
        print(f"| {'ranked answer p95':44} | {p95:9.1f} ms |")
        print(f"| {'targets listed per answer (median)':44} | {statistics.median(listed):12.0f} |")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
