"""A small in-process stand-in for the network server, speaking API v1 (shared/API.md), for failure injection:
outages, 5xx answers, hanging uploads. The real server is exercised by test_e2e_server.py."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from astropy.io import fits

SITE_KEY = "k" * 43
OBSERVER_TOKEN = "observer-token"


class FakeServer:
    def __init__(self) -> None:
        self.site_id = "11111111-1111-1111-1111-111111111111"
        self.site_key = SITE_KEY
        self.targets: list[dict[str, Any]] = []
        self.observations: dict[str, dict[str, Any]] = {}
        self.images: dict[str, fits.Header] = {}
        self.image_bytes: dict[str, int] = {}
        self.image_sha256: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []
        self.heartbeats: list[dict[str, Any]] = []
        self.registered: list[dict[str, Any]] = []
        self.target_queries: list[dict[str, list[str]]] = []
        self.failures: list[tuple[str, str, int]] = []  # (method, path fragment, status), used once each
        self.hang_image_put = threading.Event()
        self.release = threading.Event()
        self.server_time_offset_sec = 0.0
        self.lock = threading.Lock()
        self.port = 0
        self.httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        owner = self

        class Handler(_Handler):
            server_state = owner

        ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def fail(self, method: str, fragment: str, status: int, times: int = 1) -> None:
        self.failures.extend([(method, fragment, status)] * times)

    def add_target(self, **fields: Any) -> dict[str, Any]:
        target = {
            "target_id": str(uuid.uuid4()),
            "name": "Target",
            "ra_deg": 0.0,
            "dec_deg": 0.0,
            "target_type": "variable",
            "magnitude": 12.0,
            "priority": 1.0,
            "filter": "R",
            "exposure_sec": 30,
            "observable_until": None,
        }
        target.update(fields)
        self.targets.append(target)
        return target


class _Handler(BaseHTTPRequestHandler):
    server_state: FakeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        # One request per connection, so that stop() really cuts the agent off.
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _site_auth(self) -> bool:
        return self.headers.get("Authorization") == f"Bearer {self.server_state.site_key}"

    def _handle(self, method: str) -> None:
        state = self.server_state
        parsed = urlparse(self.path)
        path = parsed.path
        body = self._body()
        with state.lock:
            state.requests.append((method, path))
            for failure in list(state.failures):
                if failure[0] == method and failure[1] in path:
                    state.failures.remove(failure)
                    self._send(failure[2], {"detail": "injected failure"})
                    return
        if method == "GET" and path == "/api/v1/status":
            self._send(200, {"version": "fake", "active_sites": 1})
        elif method == "POST" and path == "/api/v1/sites":
            if self.headers.get("Authorization") != f"Token {OBSERVER_TOKEN}":
                self._send(401, {"detail": "Invalid token."})
                return
            site = json.loads(body)
            state.registered.append(site)
            self._send(201, {**site, "site_id": state.site_id, "api_key": state.site_key})
        elif not self._site_auth():
            self._send(401, {"detail": "Invalid site key."})
        elif method == "PUT" and path == f"/api/v1/sites/{state.site_id}/heartbeat":
            state.heartbeats.append(json.loads(body or b"{}"))
            now = datetime.now(UTC).timestamp() + state.server_time_offset_sec
            server_time = datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")
            self._send(200, {"server_time": server_time, "next_poll_s": 60})
        elif method == "GET" and path == "/api/v1/targets":
            query = parse_qs(parsed.query)
            state.target_queries.append(query)
            self._send(200, {"site_id": state.site_id, "at": query.get("at", [None])[0], "targets": state.targets})
        elif method == "POST" and path == "/api/v1/observations":
            self._observation(json.loads(body))
        elif method == "PUT" and path.startswith("/api/v1/observations/") and path.endswith("/image"):
            self._image(path.split("/")[4], body)
        else:
            self._send(404, {"detail": "Not found."})

    def _observation(self, item: dict[str, Any]) -> None:
        state = self.server_state
        missing = [k for k in ("observation_id", "target_id", "observed_at") if k not in item]
        if missing:
            self._send(400, {"detail": "Invalid input.", "errors": {k: ["This field is required."] for k in missing}})
            return
        if not item["observed_at"].endswith(("Z", "+00:00")):
            self._send(400, {"detail": "Invalid input.", "errors": {"observed_at": ["Timestamp needs an offset."]}})
            return
        with state.lock:
            known = state.observations.get(item["observation_id"])
            if known is not None:
                if known != item:
                    self._send(409, {"detail": "Different content for this observation_id."})
                else:
                    self._send(200, {"observation_id": item["observation_id"], "status": "accepted"})
                return
            state.observations[item["observation_id"]] = item
        self._send(201, {"observation_id": item["observation_id"], "status": "accepted"})

    def _image(self, observation_id: str, body: bytes) -> None:
        state = self.server_state
        if self.headers.get("Content-Type") != "application/fits":
            self._send(415, {"detail": "Unsupported media type."})
            return
        if observation_id not in state.observations:
            self._send(404, {"detail": "No such observation."})
            return
        if state.hang_image_put.is_set():
            state.release.wait(60)
            return
        # Like the real server: the same bytes again are "unchanged", different bytes a conflict.
        digest = hashlib.sha256(body).hexdigest()
        known = state.image_sha256.get(observation_id)
        if known is not None:
            if known == digest:
                self._send(200, {"status": "unchanged"})
            else:
                self._send(409, {"detail": "This observation already has a different image."})
            return
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        try:
            with fits.open(io.BytesIO(body)) as hdul:
                header = hdul[0].header.copy()
                if hdul[0].data is None:
                    raise ValueError("no image data")
        except Exception as exc:
            self._send(400, {"detail": f"Not a valid FITS image: {exc}"})
            return
        with state.lock:
            state.images[observation_id] = header
            state.image_bytes[observation_id] = len(body)
            state.image_sha256[observation_id] = digest
        self._send(202, {"status": "queued"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")
