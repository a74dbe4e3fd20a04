"""Pollers for feeds that are asked rather than pushed: TNS, Gaia alerts, Fink, ALeRCE, Lasair.

One base class (as TOM Toolkit's brokers): a poller says whether it is configured (off until its settings are
set), fetches *messages* (body bytes and content type, each parsed on its own so one bad message spoils only
itself), and :func:`feed_poll` parses, ingests in batch, and records poison messages in the dead-letter table.
Settings are read at call time: Django settings first, then the environment.
"""

from __future__ import annotations

import abc
import datetime as dt
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings
from django.utils import timezone

from alerts import services
from alerts.formats import AlertFormatError, ParsedAlert, UnsupportedMediaType, parse

logger = logging.getLogger(__name__)

TIMEOUT_S = (10.0, 60.0)  # connect, read
BATCH = 1000
USER_AGENT = "telescope-network-alerts/1 (+https://github.com/)"


def setting(name: str, default: Any = None) -> Any:
    """A feed setting: Django settings, else the environment, else the default (empty strings count as unset)."""
    value = getattr(settings, name, None)
    if value in (None, ""):
        value = os.environ.get(name)
    return default if value in (None, "") else value


def _int_setting(name: str, default: int) -> int:
    try:
        return int(setting(name, default))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number, not {setting(name)!r}") from None


def _list_setting(name: str, default: str) -> list[str]:
    return [part.strip() for part in str(setting(name, default)).split(",") if part.strip()]


@dataclass
class Message:
    body: bytes
    content_type: str
    label: str = ""  # what it is, for the dead-letter entry ("TNS object 2026abc")


@dataclass
class PollReport:
    feed: str
    configured: bool = True
    messages: int = 0
    alerts: int = 0
    created: int = 0
    updated: int = 0
    targets_created: int = 0
    dead_letters: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


class Poller(abc.ABC):
    """A feed we ask. Subclasses set ``name`` and implement ``configured`` and ``messages``."""

    name = "feed"

    @abc.abstractmethod
    def configured(self) -> bool: ...

    @abc.abstractmethod
    def messages(self, session: requests.Session, *, now: dt.datetime) -> Iterator[Message]: ...

    def keep(self, alert: ParsedAlert, *, now: dt.datetime) -> bool:
        """Filter parsed alerts before ingest (e.g. the whole Gaia history → the recent ones)."""
        return True


def _json_message(obj: Any, label: str) -> Message:
    return Message(json.dumps(obj, allow_nan=True).encode(), "application/json", label)


def _get_json(session: requests.Session, url: str, **kwargs: Any) -> Any:
    response = session.get(url, timeout=TIMEOUT_S, **kwargs)
    response.raise_for_status()
    return response.json()


class TNSPoller(Poller):
    """Transient Name Server: objects made public since the last polls (``search``), each fetched with
    ``get/object`` (the search reply has names only)."""

    name = "tns"

    def configured(self) -> bool:
        return bool(setting("ALERTS_TNS_API_KEY") and setting("ALERTS_TNS_BOT_ID"))

    def _post(self, session: requests.Session, url: str, data: dict[str, Any]) -> Any:
        marker = json.dumps(
            {"tns_id": str(setting("ALERTS_TNS_BOT_ID")), "type": "bot", "name": setting("ALERTS_TNS_BOT_NAME", "")}
        )
        response = session.post(
            url,
            data={"api_key": setting("ALERTS_TNS_API_KEY"), "data": json.dumps(data)},
            headers={"User-Agent": f"tns_marker{marker}"},
            timeout=TIMEOUT_S,
        )
        response.raise_for_status()
        return response.json()

    def messages(self, session: requests.Session, *, now: dt.datetime) -> Iterator[Message]:
        from alerts.formats import tns

        base = str(setting("ALERTS_TNS_URL", "https://www.wis-tns.org/api")).rstrip("/")
        since = now - dt.timedelta(hours=_int_setting("ALERTS_TNS_LOOKBACK_HOURS", 2))
        reply = self._post(session, f"{base}/get/search", {"public_timestamp": since.strftime("%Y-%m-%d %H:%M:%S")})
        names = tns.search_names(reply)[: _int_setting("ALERTS_TNS_MAX_OBJECTS", 50)]
        for name in names:
            obj = self._post(session, f"{base}/get/object", {"objname": name})
            yield _json_message(obj, f"TNS object {name}")


class GaiaPoller(Poller):
    """Gaia Science Alerts: the published ``alerts.csv`` (the whole history; recent rows are kept)."""

    name = "gaia"

    def configured(self) -> bool:
        return bool(setting("ALERTS_GAIA_URL"))

    def messages(self, session: requests.Session, *, now: dt.datetime) -> Iterator[Message]:
        response = session.get(str(setting("ALERTS_GAIA_URL")), timeout=TIMEOUT_S)
        response.raise_for_status()
        yield Message(response.content, "text/csv", "Gaia alerts.csv")

    def keep(self, alert: ParsedAlert, *, now: dt.datetime) -> bool:
        max_age = dt.timedelta(days=_int_setting("ALERTS_GAIA_MAX_AGE_DAYS", 30))
        return alert.event_time is None or now - alert.event_time <= max_age


class FinkPoller(Poller):
    """Fink: the latest alerts of chosen classes (``/api/v1/latests``), one message per object."""

    name = "fink"

    def configured(self) -> bool:
        return bool(setting("ALERTS_FINK_URL"))

    def messages(self, session: requests.Session, *, now: dt.datetime) -> Iterator[Message]:
        base = str(setting("ALERTS_FINK_URL")).rstrip("/")
        count = _int_setting("ALERTS_FINK_N", 100)
        for cls in _list_setting("ALERTS_FINK_CLASSES", "Early SN Ia candidate,SN candidate,Kilonova candidate"):
            response = session.post(f"{base}/api/v1/latests", json={"class": cls, "n": str(count)}, timeout=TIMEOUT_S)
            response.raise_for_status()
            rows = response.json()
            if not isinstance(rows, list):
                yield Message(response.content, "application/json", f"Fink latests {cls}")
                continue
            by_object: dict[str, list[Any]] = {}
            for row in rows:
                key = row.get("i:objectId") if isinstance(row, dict) else None
                by_object.setdefault(str(key), []).append(row)
            for object_id, object_rows in by_object.items():
                yield _json_message(object_rows, f"Fink {cls} {object_id}")


class AlercePoller(Poller):
    """ALeRCE: recently updated objects of chosen light-curve classes (``/objects``), one message per object."""

    name = "alerce"

    def configured(self) -> bool:
        return bool(setting("ALERTS_ALERCE_URL"))

    def messages(self, session: requests.Session, *, now: dt.datetime) -> Iterator[Message]:
        base = str(setting("ALERTS_ALERCE_URL")).rstrip("/")
        mjd_now = (now - dt.datetime(1858, 11, 17, tzinfo=dt.UTC)).total_seconds() / 86400.0
        since_mjd = mjd_now - _int_setting("ALERTS_ALERCE_LOOKBACK_DAYS", 2)
        for cls in _list_setting("ALERTS_ALERCE_CLASSES", "SNIa,SNIbc,SNII,SLSN"):
            params = {
                "classifier": setting("ALERTS_ALERCE_CLASSIFIER", "lc_classifier"),
                "class_name": cls,
                "lastmjd": f"{since_mjd:.5f}",
                "order_by": "lastmjd",
                "order_mode": "DESC",
                "page_size": _int_setting("ALERTS_ALERCE_N", 100),
            }
            reply = _get_json(session, f"{base}/objects/", params=params)
            items = reply.get("items") if isinstance(reply, dict) else reply
            if not isinstance(items, list):
                yield _json_message(reply, f"ALeRCE objects {cls}")
                continue
            for item in items:
                label = item.get("oid") if isinstance(item, dict) else "?"
                yield _json_message(item, f"ALeRCE {cls} {label}")


class LasairPoller(Poller):
    """Lasair: the objects a stream (a saved filter) has passed lately, each fetched with ``/object/``."""

    name = "lasair"

    def configured(self) -> bool:
        return bool(setting("ALERTS_LASAIR_TOKEN") and setting("ALERTS_LASAIR_STREAM"))

    def messages(self, session: requests.Session, *, now: dt.datetime) -> Iterator[Message]:
        base = str(setting("ALERTS_LASAIR_URL", "https://lasair-ztf.lsst.ac.uk/api")).rstrip("/")
        headers = {"Authorization": f"Token {setting('ALERTS_LASAIR_TOKEN')}"}
        stream = setting("ALERTS_LASAIR_STREAM")
        limit = _int_setting("ALERTS_LASAIR_N", 50)
        rows = _get_json(session, f"{base}/streams/{stream}/", params={"limit": limit}, headers=headers)
        if not isinstance(rows, list):
            yield _json_message(rows, f"Lasair stream {stream}")
            return
        seen: set[str] = set()
        for row in rows:
            object_id = (row.get("objectId") or row.get("diaObjectId")) if isinstance(row, dict) else None
            if object_id is None or str(object_id) in seen:
                continue
            seen.add(str(object_id))
            response = session.get(
                f"{base}/object/", params={"objectId": object_id}, headers=headers, timeout=TIMEOUT_S
            )
            response.raise_for_status()
            yield Message(response.content, "application/json", f"Lasair object {object_id}")


POLLERS: dict[str, type[Poller]] = {p.name: p for p in (TNSPoller, GaiaPoller, FinkPoller, AlercePoller, LasairPoller)}


def _parse_message(message: Message, poller: Poller, report: PollReport, now: dt.datetime) -> list[ParsedAlert]:
    feed = f"poller:{poller.name}"
    try:
        parsed = parse(message.body, message.content_type)
    except (AlertFormatError, UnsupportedMediaType) as exc:
        if message.content_type == "text/csv":
            return _parse_csv_rows(message, poller, report, now)
        services.dead_letter_record(
            feed=feed, body=message.body, content_type=message.content_type, error=f"{message.label}: {exc}"
        )
        report.dead_letters += 1
        return []
    return [p for p in parsed if poller.keep(p, now=now)]


def _parse_csv_rows(message: Message, poller: Poller, report: PollReport, now: dt.datetime) -> list[ParsedAlert]:
    """A CSV with a bad row: keep the good rows, dead-letter each bad one (with the header)."""
    text = message.body.decode("utf-8", "replace")
    header, _, rest = text.partition("\n")
    kept: list[ParsedAlert] = []
    for line in rest.splitlines():
        if not line.strip():
            continue
        body = f"{header}\n{line}\n".encode()
        try:
            kept.extend(p for p in parse(body, message.content_type) if poller.keep(p, now=now))
        except (AlertFormatError, UnsupportedMediaType) as exc:
            services.dead_letter_record(
                feed=f"poller:{poller.name}", body=body, content_type=message.content_type, error=str(exc)
            )
            report.dead_letters += 1
    return kept


def _ingest(parsed: list[ParsedAlert], poller: Poller, report: PollReport) -> None:
    for i in range(0, len(parsed), BATCH):
        chunk = parsed[i : i + BATCH]
        try:
            batch = services.alerts_ingest_many(chunk)
            report.created += batch.created
            report.updated += batch.updated
            report.targets_created += batch.targets_created
            continue
        except Exception:
            logger.exception("batch ingest from %s failed; trying its alerts one by one", poller.name)
        for alert in chunk:
            try:
                result = services.alert_ingest(parsed=alert)
            except Exception as exc:
                services.dead_letter_record(
                    feed=f"poller:{poller.name}",
                    body=json.dumps(alert.to_dict()),
                    content_type="application/json",
                    error=f"ingest failed: {type(exc).__name__}: {exc}",
                )
                report.dead_letters += 1
                continue
            report.created += int(result.created)
            report.updated += int(not result.created)


def feed_poll(poller: Poller, *, session: requests.Session | None = None, now: dt.datetime | None = None) -> PollReport:
    """Fetch, parse and ingest one feed. Never raises: network faults go in the report's ``error``, bad
    messages in the dead-letter table."""
    report = PollReport(feed=poller.name)
    try:
        if not poller.configured():
            report.configured = False
            report.notes.append("not configured: off")
            return report
        now = now or timezone.now()
        own_session = session is None
        session = session or requests.Session()
        session.headers.setdefault("User-Agent", USER_AGENT)
        parsed: list[ParsedAlert] = []
        try:
            for message in poller.messages(session, now=now):
                report.messages += 1
                parsed.extend(_parse_message(message, poller, report, now))
        except (requests.RequestException, ValueError) as exc:
            # Keep what arrived before the fault; the next poll asks again (ingest is idempotent).
            report.error = f"{type(exc).__name__}: {exc}"
            logger.warning("polling %s failed: %s", poller.name, report.error)
        finally:
            if own_session:
                session.close()
        report.alerts = len(parsed)
        _ingest(parsed, poller, report)
    except Exception as exc:  # a poller must never take its worker down
        logger.exception("polling %s failed", poller.name)
        report.error = f"{type(exc).__name__}: {exc}"
    return report
