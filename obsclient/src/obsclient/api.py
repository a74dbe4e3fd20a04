"""HTTP client for the network's API, version 1 (shared/API.md)."""

from __future__ import annotations

import gzip
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import requests

from obsclient import __version__

USER_AGENT = f"obsclient/{__version__}"


class ApiError(Exception):
    """The server could not be reached or answered with an error."""

    def __init__(self, message: str, *, status: int | None = None, retry_after_sec: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_sec = retry_after_sec

    @property
    def retryable(self) -> bool:
        """Worth trying again later: no answer, a server fault, rate limiting, or a key not yet accepted."""
        return self.status is None or self.status >= 500 or self.status in (401, 403, 408, 425, 429)


class ServerClient:
    def __init__(
        self, base_url: str, *, api_key: str | None = None, timeout_sec: float = 30, verify_tls: bool = True
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout_sec = timeout_sec
        self.session = requests.Session()
        self.session.verify = verify_tls
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers["Accept"] = "application/json"

    def _url(self, path: str) -> str:
        return f"{self.base_url}/api/v1/{path.lstrip('/')}"

    def _request(
        self, method: str, path: str, *, auth: str | None = "site", expected: tuple[int, ...] = (200,), **kwargs: Any
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if auth == "site":
            if not self.api_key:
                raise ApiError("No site key is configured; run `obsclient register` first.", status=401)
            headers["Authorization"] = f"Bearer {self.api_key}"
        elif auth is not None:
            headers["Authorization"] = auth
        url = path if path.startswith("http") else self._url(path)
        try:
            response = self.session.request(method, url, headers=headers, timeout=self.timeout_sec, **kwargs)
        except requests.RequestException as exc:
            raise ApiError(f"{method} {url} failed: {exc.__class__.__name__}: {exc}") from exc
        if response.status_code not in expected:
            raise ApiError(
                f"{method} {url} answered {response.status_code}: {_detail(response)}",
                status=response.status_code,
                retry_after_sec=_retry_after(response),
            )
        return response

    def status(self) -> dict[str, Any]:
        return self._request("GET", "status", auth=None).json()

    def heartbeat(self, site_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._request("PUT", f"sites/{site_id}/heartbeat", json=body).json()

    def targets(self, *, site_id: str | None = None, at: datetime | None = None, count: int = 10) -> dict[str, Any]:
        params: dict[str, Any] = {"count": count}
        if site_id:
            params["site_id"] = site_id
        if at is not None:
            params["at"] = iso_utc(at)
        return self._request("GET", "targets", params=params).json()

    def observation_submit(self, observation: dict[str, Any]) -> dict[str, Any]:
        """POST one observation; 201 (new) and 200 (the same one again) both mean the server has it."""
        return self._request("POST", "observations", json=observation, expected=(200, 201)).json()

    def image_upload(self, observation_id: str, fits_path: Path, *, compress: bool = True) -> dict[str, Any]:
        """PUT the FITS file, streamed from disk (gzip-encoded through a temporary file, never held in memory)."""
        headers = {"Content-Type": "application/fits"}
        if not compress:
            with fits_path.open("rb") as body:
                return self._put_file(observation_id, body, headers)
        headers["Content-Encoding"] = "gzip"
        with tempfile.TemporaryFile() as spool:
            # mtime=0: the same frame always compresses to the same bytes, so a repeated upload (after a crash
            # or a lost answer) is recognised by the server as the same image, not a conflicting one.
            with (
                fits_path.open("rb") as raw,
                gzip.GzipFile(fileobj=spool, mode="wb", compresslevel=6, mtime=0) as packed,
            ):
                shutil.copyfileobj(raw, packed, 1 << 20)
            return self._put_file(observation_id, spool, headers)

    def _put_file(self, observation_id: str, body: BinaryIO, headers: dict[str, str]) -> dict[str, Any]:
        body.seek(0, 2)
        headers["Content-Length"] = str(body.tell())
        body.seek(0)
        response = self._request(
            "PUT", f"observations/{observation_id}/image", data=body, headers=headers, expected=(200, 201, 202)
        )
        return response.json() if response.content else {}

    def site_register(self, observer_token: str, site: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", "sites", auth=f"Token {observer_token}", json=site, expected=(201,)).json()


def iso_utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the API needs an explicit UTC offset")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without offset: {text!r}")
    return moment


def _detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason or "no detail"
    if isinstance(body, dict):
        detail = str(body.get("detail") or "")
        errors = body.get("errors")
        if errors:
            detail = f"{detail} {errors}".strip()
        return detail or str(body)[:200]
    return str(body)[:200]


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
