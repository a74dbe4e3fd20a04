"""Alert ingest: store alerts idempotently by (source, external_id), let the coordinators' rules decide, and carry
out the decision on the target catalogue and campaigns.

Two entry points share one decision path (:class:`_Ingestor`):

- :func:`alert_ingest` — one alert (the API, a consumer message): the crossmatch is a database cone search
  (``sky_cell`` range prefilter, then exact separations).
- :func:`alerts_ingest_many` — a batch (pollers, CSV exports, the benchmark): the active catalogue's positions
  are held in an in-memory :class:`~alerts.crossmatch.SkyIndex` (:class:`CatalogueIndex`, reused across batches
  while the catalogue is unchanged), existing alerts and targets are fetched in bulk, and everything is written
  with bulk_create/bulk_update in one transaction.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from alerts import rules_engine as engine
from alerts.crossmatch import SkyIndex, angular_separation_deg, cell_ranges, sky_cell
from alerts.formats import AlertFormatError, ParsedAlert, normalised
from alerts.formats.base import json_safe
from alerts.models import Alert, AlertRule, DeadLetter
from campaigns.models import Campaign, CampaignTarget
from targets.models import Target, names_key

logger = logging.getLogger(__name__)

Hit = tuple[Target, float]  # an existing target and its separation (deg)
Finder = Callable[[float, float, float], "Hit | None"]

ALERT_UPDATE_FIELDS = [
    "alert_type", "format", "role", "name", "ivorn", "notice_type", "revision", "is_retraction", "ra_deg", "dec_deg",
    "error_radius_deg", "magnitude", "priority", "event_time", "skymap", "payload", "update_count", "target",
    "made_target", "action", "rule_name", "decision", "updated_at",
]  # fmt: skip
TARGET_UPDATE_FIELDS = [
    "aliases", "names_key", "ra_deg", "dec_deg", "sky_cell", "magnitude", "priority", "expires_at", "active", "windows",
    "metadata", "updated_at",
]  # fmt: skip
MAX_ALIASES = 50


@dataclass(frozen=True)
class IngestResult:
    alert: Alert
    created: bool
    target: Target | None
    decision: str
    action: str


@dataclass
class BatchResult:
    results: list[IngestResult] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    targets_created: int = 0
    targets_changed: int = 0


# ------------------------------------------------------------------------------------------------ reads


def rules_load() -> tuple[list[engine.AlertRule], dict[str, float]]:
    """The coordinators' enabled rules in order, and each rule's campaign-window boost."""
    rows = list(AlertRule.objects.in_order())
    return [r.to_engine() for r in rows], {r.name: r.campaign_window_boost for r in rows}


def network_limiting_mag() -> float | None:
    """The faintest magnitude any usable site reaches (None when no site states one)."""
    from sites.models import Site

    return Site.objects.usable().aggregate(m=Max("limiting_mag"))["m"]


def parsed_from_data(data: dict[str, Any]) -> ParsedAlert:
    """The API's normalised form (validated by AlertInSerializer) as a ParsedAlert."""
    return ParsedAlert(
        source=data["source"],
        external_id=str(data["external_id"]),
        alert_type=data.get("alert_type") or "unknown",
        format="normalised",
        ra_deg=data.get("ra_deg"),
        dec_deg=data.get("dec_deg"),
        error_radius_deg=data.get("error_radius_deg"),
        event_time=data.get("event_time"),
        magnitude=data.get("magnitude"),
        filter=data.get("filter") or None,
        priority=data.get("priority"),
        role=data.get("role") or "observation",
        is_retraction=bool(data.get("is_retraction")),
        name=data.get("name") or None,
        aliases=list(data.get("aliases") or []),
        revision=data.get("revision"),
        payload=json_safe(data.get("payload") or {}),  # a feed's bare NaN would break PostgreSQL's jsonb
    )


def _as_parsed(value: ParsedAlert | dict[str, Any]) -> ParsedAlert:
    if isinstance(value, ParsedAlert):
        return _sane(value)
    if isinstance(value, dict):
        if isinstance(value.get("event_time"), str):
            # JSON as it came (e.g. through a task queue): the normalised-form parser validates it.
            return _sane(normalised.parse_normalised(value)[0])
        return _sane(parsed_from_data(value))
    raise TypeError(f"expected a ParsedAlert or a dict, got {type(value).__name__}")


# An event cannot lie in the future (beyond clock skew), and revisions fit the database column.
EVENT_TIME_MAX_AHEAD = dt.timedelta(hours=1)
REVISION_RANGE = (-(2**31), 2**31 - 1)


def _sane(parsed: ParsedAlert) -> ParsedAlert:
    if parsed.event_time is not None and parsed.event_time > timezone.now() + EVENT_TIME_MAX_AHEAD:
        raise AlertFormatError(f"event_time {parsed.event_time.isoformat()} lies in the future.")
    if parsed.revision is not None and not REVISION_RANGE[0] <= parsed.revision <= REVISION_RANGE[1]:
        raise AlertFormatError(f"revision {parsed.revision} is out of range.")
    return parsed


def _db_finder(*, now: dt.datetime, lock: bool) -> Finder:
    """Nearest active target by a database cone search: sky-cell ranges (B-tree) then exact separations."""

    def find(ra: float, dec: float, radius: float) -> Hit | None:
        cells = Q()
        for lo, hi in cell_ranges(ra, dec, radius):
            cells |= Q(sky_cell__range=(lo, hi))
        rows = list(Target.objects.active(now=now).filter(cells).values_list("id", "ra_deg", "dec_deg"))
        if not rows:
            return None
        seps = angular_separation_deg(ra, dec, [r[1] for r in rows], [r[2] for r in rows])
        best = int(np.argmin(seps))
        if seps[best] > radius:
            return None
        qs = Target.objects.select_for_update() if lock else Target.objects
        target = qs.filter(pk=rows[best][0]).first()
        return (target, float(seps[best])) if target is not None else None

    return find


# ------------------------------------------------------------------------------------------------ decisions


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _parsed_extras(parsed: ParsedAlert) -> dict[str, Any]:
    """``payload["parsed"]`` as ``ParsedAlert.as_alert_fields()`` makes it, without its deep copy of the payload
    (parsers hand over JSON-safe payloads already; this runs for every alert of a batch)."""
    skymap = parsed.skymap
    return {
        "format": parsed.format,
        "filter": parsed.filter,
        "role": parsed.role,
        "is_retraction": parsed.is_retraction,
        "name": parsed.name,
        "aliases": list(parsed.aliases),
        "ivorn": parsed.ivorn,
        "notice_type": parsed.notice_type,
        "revision": parsed.revision,
        "lightcurve": [
            json_safe(
                {"mjd": p.mjd, "mag": p.mag, "mag_err": p.mag_err, "filter": p.filter, "upper_limit": p.upper_limit}
            )
            for p in parsed.lightcurve
        ],
        "skymap": json_safe(dataclasses.asdict(skymap)) if skymap is not None else None,
    }


def _copy_into(alert: Alert, parsed: ParsedAlert) -> None:
    """The newest message of a series speaks for it; values it does not give keep what the series said."""
    extras = _parsed_extras(parsed)
    alert.alert_type = (parsed.alert_type or "")[:100]
    alert.format = (parsed.format or "")[:30]
    alert.role = parsed.role
    alert.is_retraction = parsed.is_retraction
    if parsed.name:
        alert.name = parsed.name[:200]
    if parsed.ivorn:
        alert.ivorn = parsed.ivorn[:500]
    if parsed.notice_type:
        alert.notice_type = parsed.notice_type[:100]
    if parsed.revision is not None:
        alert.revision = parsed.revision
    if parsed.has_position:
        alert.ra_deg, alert.dec_deg = parsed.ra_deg, parsed.dec_deg
        alert.error_radius_deg = parsed.error_radius_deg
    for name in ("magnitude", "priority", "event_time"):
        value = getattr(parsed, name)
        if value is not None:
            setattr(alert, name, value)
    if extras["skymap"] is not None:
        alert.skymap = extras["skymap"]
    alert.payload = {**(parsed.payload or {}), "parsed": extras}


class _Ingestor:
    """Carries out rules-engine decisions on in-memory objects; the caller persists what it marks."""

    def __init__(
        self,
        *,
        rules: Sequence[engine.AlertRule],
        boosts: dict[str, float],
        limiting_mag: float | None,
        now: dt.datetime,
        finder: Finder,
    ) -> None:
        self.rules = rules
        self.boosts = boosts
        self.limiting_mag = limiting_mag
        self.now = now
        self.finder = finder
        self.targets: dict[Any, Target] = {}  # every target touched or loaded, by id
        self.new_targets: dict[Any, Target] = {}
        self.changed_targets: dict[Any, Target] = {}
        # campaign name → {"end": latest window end, "start": earliest start, "targets": {id: target}, "rule": name}
        self.campaigns: dict[str, dict[str, Any]] = {}
        # Positions of targets made in this batch, for crossmatching later alerts of the batch against them.
        self._new_index = GrowingIndex()

    # -- one alert ---------------------------------------------------------------------------------------

    def apply(self, parsed: ParsedAlert, alert: Alert | None) -> tuple[Alert, bool, Target | None, str, str]:
        created = alert is None
        if alert is None:
            alert = Alert(id=uuid.uuid4(), source=parsed.source[:100], external_id=parsed.external_id[:300])
        else:
            alert.update_count += 1
            if alert.revision is not None and parsed.revision is not None and parsed.revision < alert.revision:
                # The row keeps what its newest message decided; only the caller hears about the late one.
                text = (
                    f"Revision {parsed.revision} arrived after revision {alert.revision} of {alert.external_id}: "
                    "the newer one stands; nothing changed."
                )
                return alert, False, self.targets.get(alert.target_id), text, "ignore"
        _copy_into(alert, parsed)

        series_target = self.targets.get(alert.target_id) if alert.target_id else None
        existing_id = str(series_target.pk) if series_target is not None else None
        decision = engine.decide(
            parsed, self.rules, network_limiting_mag=self.limiting_mag, existing_target_id=existing_id, now=self.now
        )
        hit: Hit | None = None
        if decision.action == "create_target":
            radius = engine.crossmatch_radius_deg(parsed, self.rules)
            hit = self._nearest(parsed, radius) if radius else None
            if hit is not None:
                near, sep = hit
                self.targets[near.pk] = near
                crossmatch = engine.CrossmatchHit(str(near.pk), sep, near.priority, near.name)
                decision = engine.decide(
                    parsed, self.rules, network_limiting_mag=self.limiting_mag, crossmatch=crossmatch, now=self.now
                )

        target: Target | None = series_target
        text = decision.reason
        if decision.action == "create_target":
            target = self._create(parsed, alert, decision)
            alert.made_target = True
        elif decision.action == "update_target" and series_target is not None:
            self._refresh(series_target, parsed, decision, own=alert.made_target)
        elif decision.action == "merge_into_existing":
            assert hit is not None
            target = hit[0]
            self._refresh(target, parsed, decision, own=False)
            alert.made_target = False
        elif decision.action == "deactivate" and series_target is not None:
            if alert.made_target:
                series_target.active = False
                self._changed(series_target)
            else:
                text = (
                    f"Retraction of {alert.external_id}: its alerts had merged into the existing target "
                    f"'{series_target.name}', which this series did not make, so it stays active."
                )
        if target is not None and decision.campaign and decision.action != "deactivate":
            self._join_campaign(target, decision)
        alert.target = target
        alert.action = decision.action
        alert.rule_name = (decision.rule or "")[:100]
        alert.decision = text
        return alert, created, target, text, decision.action

    def _nearest(self, parsed: ParsedAlert, radius: float) -> Hit | None:
        assert parsed.ra_deg is not None and parsed.dec_deg is not None
        best = self.finder(parsed.ra_deg, parsed.dec_deg, radius)
        # Targets made earlier in this batch are not in the index yet.
        other = self._new_index.nearest(parsed.ra_deg, parsed.dec_deg, radius)
        if other is not None and (best is None or other[1] < best[1]):
            best = other
        return best

    # -- target changes ----------------------------------------------------------------------------------

    def _changed(self, target: Target) -> None:
        if target.pk not in self.new_targets:
            self.changed_targets[target.pk] = target

    def _create(self, parsed: ParsedAlert, alert: Alert, decision: engine.Decision) -> Target:
        assert parsed.ra_deg is not None and parsed.dec_deg is not None
        key = f"{parsed.source} {parsed.external_id}"
        name = (parsed.name or key)[:200]
        aliases = [a for a in dict.fromkeys([*parsed.aliases, key]) if a and a.lower() != name.lower()]
        kinds = set(Target.Type.values)
        target = Target(
            id=uuid.uuid4(),
            name=name,
            aliases=aliases[:MAX_ALIASES],
            ra_deg=parsed.ra_deg,
            dec_deg=parsed.dec_deg,
            target_type=decision.target_type if decision.target_type in kinds else Target.Type.TRANSIENT,
            magnitude=parsed.magnitude,
            priority=decision.priority if decision.priority is not None else 1.0,
            expires_at=decision.expires_at,
            metadata={
                "alert_source": parsed.source,
                "alert_type": parsed.alert_type,
                "alert_id": str(alert.id),
                "position_error_deg": parsed.error_radius_deg,
                "event_time": _iso(parsed.event_time) if parsed.event_time else None,
            },
        )
        target.names_key = names_key(target.name, target.aliases)
        target.sky_cell = sky_cell(target.ra_deg, target.dec_deg)
        self.targets[target.pk] = target
        self.new_targets[target.pk] = target
        self._new_index.add(target, target.ra_deg, target.dec_deg)
        return target

    def _refresh(self, target: Target, parsed: ParsedAlert, decision: engine.Decision, *, own: bool) -> None:
        """News about an existing target: alias, better position, raised priority, later expiry."""
        meta = dict(target.metadata or {})
        label = parsed.name or f"{parsed.source} {parsed.external_id}"
        known = {n.lower() for n in [target.name, *(target.aliases or [])]}
        if label.lower() not in known and len(target.aliases or []) < MAX_ALIASES:
            target.aliases = [*(target.aliases or []), label]
            target.names_key = names_key(target.name, target.aliases)
        if parsed.has_position:
            # Catalogue targets (no recorded error) are taken as exact; a series' own target follows its news.
            target_err = meta.get("position_error_deg", 0.0)
            new_err = parsed.error_radius_deg
            better = own or (new_err is not None and (target_err is None or new_err < target_err))
            if better:
                target.ra_deg, target.dec_deg = parsed.ra_deg, parsed.dec_deg
                target.sky_cell = sky_cell(target.ra_deg, target.dec_deg)
                meta["position_error_deg"] = new_err
        if parsed.magnitude is not None and target.target_type == Target.Type.TRANSIENT:
            target.magnitude = parsed.magnitude
        if decision.priority is not None:
            target.priority = decision.priority if own else max(target.priority or 0.0, decision.priority)
        if target.expires_at is not None and decision.expires_at is not None:
            target.expires_at = max(target.expires_at, decision.expires_at)
        meta["last_alert"] = f"{parsed.source} {parsed.external_id}"
        target.metadata = meta
        self._changed(target)

    def _join_campaign(self, target: Target, decision: engine.Decision) -> None:
        start, end = decision.campaign_window_start, decision.campaign_window_end
        # The ranking drops a target once all its windows have ended: never give a window to a catalogue target
        # that had none, or a GRB merged into a known source would make that source vanish two days later.
        windowed = bool(target.windows) or target.target_type == Target.Type.TRANSIENT
        if start is not None and end is not None and end > start and windowed:
            boost = self.boosts.get(decision.rule or "", 2.0)
            windows = [dict(w) for w in (target.windows or [])]
            start_iso, end_iso = _iso(start), _iso(end)
            for w in windows:
                if w.get("start") == start_iso:
                    w["end"] = max(w.get("end") or end_iso, end_iso)
                    w["priority_boost"] = max(float(w.get("priority_boost") or 0.0), boost)
                    break
            else:
                windows.append({"start": start_iso, "end": end_iso, "priority_boost": boost})
            target.windows = windows
            self._changed(target)
        assert decision.campaign is not None
        entry = self.campaigns.setdefault(
            decision.campaign, {"start": start, "end": end, "targets": {}, "rule": decision.rule}
        )
        if start is not None and (entry["start"] is None or start < entry["start"]):
            entry["start"] = start
        if end is not None and (entry["end"] is None or end > entry["end"]):
            entry["end"] = end
        entry["targets"][target.pk] = target

    # -- persistence -------------------------------------------------------------------------------------

    def flush_targets(self, *, bulk: bool) -> None:
        now = timezone.now()
        if self.new_targets:
            Target.objects.bulk_create(list(self.new_targets.values()), batch_size=500)
        changed = [t for t in self.changed_targets.values() if t.pk not in self.new_targets]
        if bulk and changed:
            for t in changed:
                t.updated_at = now  # bulk_update skips auto_now
            Target.objects.bulk_update(changed, TARGET_UPDATE_FIELDS, batch_size=500)
        else:
            for t in changed:
                t.save()
        for name, entry in self.campaigns.items():
            _campaign_join(name=name, entry=entry)


def _campaign_join(*, name: str, entry: dict[str, Any]) -> None:
    """Create the rule's campaign or extend its dates to cover the new window, and add the targets."""
    start, end = entry["start"], entry["end"]
    campaign = Campaign.objects.select_for_update().filter(name=name).first()
    if campaign is None:
        campaign = Campaign.objects.create(
            name=name,
            kind=Campaign.Kind.TRANSIENT,
            description=f"Made by alert rule '{entry['rule']}': every accepted alert of the rule joins it.",
            start_date=start.date() if start else None,
            end_date=end.date() if end else None,
        )
    else:
        changed = []
        if end is not None and campaign.end_date is not None and campaign.end_date < end.date():
            campaign.end_date = end.date()
            changed.append("end_date")
        if start is not None and campaign.start_date is not None and campaign.start_date > start.date():
            campaign.start_date = start.date()
            changed.append("start_date")
        if changed:
            campaign.save(update_fields=[*changed, "updated_at"])
    CampaignTarget.objects.bulk_create(
        [CampaignTarget(campaign_id=campaign.pk, target_id=t.pk) for t in entry["targets"].values()],
        ignore_conflicts=True,
    )


# ------------------------------------------------------------------------------------------------ writes


def alert_ingest(
    *, parsed: ParsedAlert | dict[str, Any] | None = None, data: dict[str, Any] | None = None, now=None
) -> IngestResult:
    """Store one alert (new or an update of its series) and carry out what the rules decide.

    Idempotent by ``(source, external_id)``: a concurrent twin that wins the insert turns this call into an
    update (one retry on IntegrityError).
    """
    value = parsed if parsed is not None else data
    if value is None:
        raise TypeError("alert_ingest needs parsed= (or data=)")
    alert_in = _as_parsed(value)
    for attempt in (1, 2):
        try:
            return _ingest_one(alert_in, now=now or timezone.now())
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@transaction.atomic
def _ingest_one(parsed: ParsedAlert, *, now: dt.datetime) -> IngestResult:
    rules, boosts = rules_load()
    ingestor = _Ingestor(
        rules=rules, boosts=boosts, limiting_mag=network_limiting_mag(), now=now, finder=_db_finder(now=now, lock=True)
    )
    existing = (
        Alert.objects.select_for_update()
        .filter(source=parsed.source[:100], external_id=parsed.external_id[:300])
        .first()
    )
    if existing is not None and existing.target_id:
        target = Target.objects.select_for_update().filter(pk=existing.target_id).first()
        if target is not None:
            ingestor.targets[target.pk] = target
    alert, created, target, text, action = ingestor.apply(parsed, existing)
    ingestor.flush_targets(bulk=False)
    alert.save(force_insert=created)
    return IngestResult(alert=alert, created=created, target=target, decision=text, action=action)


def alerts_ingest_many(
    parsed_list: Iterable[ParsedAlert | dict[str, Any]], *, now=None, use_index: bool = True
) -> BatchResult:
    """Ingest a batch in one transaction: one read of the catalogue into an in-memory sky index (or, with
    ``use_index=False``, a database cone search per alert), bulk reads of existing alerts and targets, bulk
    writes. Messages of the same series within the batch apply in order."""
    items = [_as_parsed(p) for p in parsed_list]
    now = now or timezone.now()
    for attempt in (1, 2):
        try:
            return _ingest_many(items, now=now, use_index=use_index)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class GrowingIndex:
    """Positions added one by one (targets made in this batch or process), bucketed by sky cell so a small-radius
    lookup reads a cell or two instead of scanning them all."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._pos: list[tuple[float, float]] = []
        self._cells: dict[int, list[int]] = {}

    def __len__(self) -> int:
        return len(self.items)

    def add(self, item: Any, ra: float, dec: float) -> None:
        self._cells.setdefault(sky_cell(ra, dec), []).append(len(self.items))
        self.items.append(item)
        self._pos.append((ra, dec))

    def nearest(self, ra: float, dec: float, radius: float) -> tuple[Any, float] | None:
        if not self.items:
            return None
        found = [
            i for lo, hi in cell_ranges(ra, dec, radius) for c in range(lo, hi + 1) for i in self._cells.get(c, ())
        ]
        if not found:
            return None
        seps = angular_separation_deg(ra, dec, [self._pos[i][0] for i in found], [self._pos[i][1] for i in found])
        k = int(np.argmin(seps))
        return (self.items[found[k]], float(seps[k])) if seps[k] <= radius else None


class CatalogueIndex:
    """The active catalogue's positions in memory, reused across batches while the catalogue is unchanged.

    ``version`` is the target table's latest ``updated_at``: a change by anyone else makes the next batch rebuild
    the index. Targets this process makes or moves are appended to a small *delta* (searched by
    brute force) instead of rebuilding. Hits are candidates only: the caller re-checks the fetched target's
    current position and state, so a stale entry can never merge an alert into the wrong place.
    """

    MAX_DELTA = 20_000

    def __init__(self, version: tuple, ids: list, ra: np.ndarray, dec: np.ndarray) -> None:
        self.version = version
        self.ids = ids
        self.index = SkyIndex(ra, dec) if len(ids) else None
        self.delta = GrowingIndex()

    def nearest(self, ra: float, dec: float, radius: float) -> tuple[Any, float] | None:
        best = None
        if self.index is not None:
            hit = self.index.nearest(ra, dec, radius)
            if hit is not None:
                best = (self.ids[hit[0]], hit[1])
        other = self.delta.nearest(ra, dec, radius)
        if other is not None and (best is None or other[1] < best[1]):
            best = other
        return best

    def add(self, targets: Iterable[Target]) -> None:
        for t in targets:
            self.delta.add(t.pk, t.ra_deg, t.dec_deg)


_index_cache: CatalogueIndex | None = None
_index_lock = threading.Lock()


def _catalogue_version() -> tuple:
    # Every write through the ORM or the services stamps updated_at (an indexed column, so this is cheap); a
    # deleted or switched-off target left in the index is caught when its hit is checked against the row.
    return (Target.objects.aggregate(t=Max("updated_at"))["t"],)


def catalogue_index(*, now: dt.datetime) -> CatalogueIndex:
    """The cached index if the catalogue has not changed since, else a fresh one (one raw read of the table)."""
    global _index_cache
    version = _catalogue_version()
    with _index_lock:
        cached = _index_cache
        if cached is not None and cached.version == version and len(cached.delta) < CatalogueIndex.MAX_DELTA:
            return cached
        # Raw rows: Django's per-row UUID conversion would cost more than the whole read.
        sql, params = Target.objects.active(now=now).values_list("id", "ra_deg", "dec_deg").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        ids = [r[0] for r in rows]
        ra = np.fromiter((r[1] for r in rows), float, len(rows))
        dec = np.fromiter((r[2] for r in rows), float, len(rows))
        _index_cache = CatalogueIndex(version, ids, ra, dec)
        return _index_cache


def catalogue_index_reset() -> None:
    global _index_cache
    with _index_lock:
        _index_cache = None


def _index_finder(cat: CatalogueIndex, items: list[ParsedAlert], rules, now: dt.datetime) -> Finder:
    """Look every positioned alert up once, fetch all candidate targets in one query, then answer from memory."""
    radii = [engine.crossmatch_radius_deg(p, rules) if p.has_position else None for p in items]
    candidates: dict[tuple[float, float, float], tuple[Any, float] | None] = {}
    for p, radius in zip(items, radii, strict=True):
        if radius and p.ra_deg is not None and p.dec_deg is not None:
            candidates[(p.ra_deg, p.dec_deg, radius)] = cat.nearest(p.ra_deg, p.dec_deg, radius)
    wanted = {hit[0] for hit in candidates.values() if hit is not None}
    loaded = {str(t.pk.hex): t for t in Target.objects.filter(pk__in=list(wanted))} if wanted else {}

    def key(target_id: Any) -> str:
        return target_id.hex if isinstance(target_id, uuid.UUID) else str(target_id).replace("-", "")

    def find(ra: float, dec: float, radius: float) -> Hit | None:
        query = (ra, dec, radius)
        hit = candidates[query] if query in candidates else cat.nearest(ra, dec, radius)
        if hit is None:
            return None
        target = loaded.get(key(hit[0]))
        if target is None:
            target = Target.objects.filter(pk=hit[0]).first()
            if target is None:
                return None
            loaded[key(hit[0])] = target
        # The index may be older than the row: check the target as it is now.
        if not target.active or (target.expires_at is not None and target.expires_at <= now):
            return None
        sep = float(angular_separation_deg(ra, dec, target.ra_deg, target.dec_deg))
        return (target, sep) if sep <= radius else None

    return find


@transaction.atomic
def _ingest_many(items: list[ParsedAlert], *, now: dt.datetime, use_index: bool) -> BatchResult:
    rules, boosts = rules_load()
    cat = catalogue_index(now=now) if use_index else None
    finder = _index_finder(cat, items, rules, now) if cat is not None else _db_finder(now=now, lock=False)
    ingestor = _Ingestor(rules=rules, boosts=boosts, limiting_mag=network_limiting_mag(), now=now, finder=finder)

    # Existing alerts of these series, and the targets they point at, in a few queries.
    by_source: dict[str, set[str]] = {}
    for p in items:
        by_source.setdefault(p.source[:100], set()).add(p.external_id[:300])
    known: dict[tuple[str, str], Alert] = {}
    for source, ids in by_source.items():
        id_list = list(ids)
        for i in range(0, len(id_list), 500):
            for a in Alert.objects.select_for_update().filter(source=source, external_id__in=id_list[i : i + 500]):
                known[(a.source, a.external_id)] = a
    target_ids = {a.target_id for a in known.values() if a.target_id}
    if target_ids:
        ingestor.targets.update(Target.objects.in_bulk(list(target_ids)))
    result = BatchResult()
    new_alerts: dict[tuple[str, str], Alert] = {}
    changed_alerts: dict[tuple[str, str], Alert] = {}
    for p in items:
        key = (p.source[:100], p.external_id[:300])
        current = new_alerts.get(key) or known.get(key)
        alert, created, target, text, action = ingestor.apply(p, current)
        if created:
            new_alerts[key] = alert
            result.created += 1
        else:
            if key not in new_alerts:
                changed_alerts[key] = alert
            result.updated += 1
        result.results.append(IngestResult(alert=alert, created=created, target=target, decision=text, action=action))

    result.targets_created = len(ingestor.new_targets)
    result.targets_changed = len([t for t in ingestor.changed_targets if t not in ingestor.new_targets])
    version_before = cat.version if cat is not None else None
    ingestor.flush_targets(bulk=True)
    if cat is not None and version_before is not None:
        _index_note_own_writes(cat, version_before, ingestor)
    if new_alerts:
        Alert.objects.bulk_create(list(new_alerts.values()), batch_size=500)
    if changed_alerts:
        stamp = timezone.now()
        for a in changed_alerts.values():
            a.updated_at = stamp
        Alert.objects.bulk_update(list(changed_alerts.values()), ALERT_UPDATE_FIELDS, batch_size=500)
    return result


def _index_note_own_writes(cat: CatalogueIndex, version_before: tuple, ingestor: _Ingestor) -> None:
    """Keep the cached index valid after our own writes; drop it if anyone else wrote meanwhile."""
    written = [*ingestor.new_targets.values(), *ingestor.changed_targets.values()]
    if not written:
        return
    stamps = [t.updated_at for t in written if t.updated_at is not None]
    if version_before[0] is not None:
        stamps.append(version_before[0])
    expected = (max(stamps) if stamps else None,)
    if _catalogue_version() == expected:
        with _index_lock:
            cat.add(written)
            cat.version = expected
    else:
        catalogue_index_reset()


# ------------------------------------------------------------------------------------------------ dead letters


def dead_letter_record(*, feed: str, body: bytes | str, error: str, content_type: str = "") -> DeadLetter:
    """Keep a message that could not be read or ingested (a consumer records it and goes on)."""
    raw = body.encode("utf-8", "replace") if isinstance(body, str) else bytes(body)
    size = len(raw)
    kept = raw[: DeadLetter.MAX_BODY_BYTES]
    try:
        text, encoding = kept.decode("utf-8"), "utf-8"
        if "\x00" in text:  # PostgreSQL text cannot hold NUL
            raise UnicodeDecodeError("utf-8", kept, 0, 1, "NUL byte")
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(kept).decode("ascii"), "base64"
    return DeadLetter.objects.create(
        feed=feed[:200],
        content_type=(content_type or "")[:200],
        body=text,
        body_encoding=encoding,
        body_size=size,
        truncated=size > len(kept),
        error=str(error)[:5000] or "unknown error",
    )


def dead_letter_body(letter: DeadLetter) -> bytes:
    """The stored message as bytes (for replaying it)."""
    if letter.body_encoding == "base64":
        return base64.b64decode(letter.body)
    return letter.body.encode("utf-8")


def message_ingest(*, feed: str, body: bytes, content_type: str) -> list[IngestResult]:
    """Parse and ingest one message from a consumer or poller; a bad one goes to the dead-letter table.

    Never raises for the message's own faults: returns [] after recording it.
    """
    from alerts.formats import UnsupportedMediaType, parse

    try:
        parsed = parse(body, content_type)
    except (AlertFormatError, UnsupportedMediaType) as exc:
        dead_letter_record(feed=feed, body=body, content_type=content_type, error=str(exc))
        return []
    try:
        if len(parsed) == 1:
            return [alert_ingest(parsed=parsed[0])]
        return alerts_ingest_many(parsed).results
    except Exception as exc:  # a valid message the database refused (e.g. a value out of a column's range)
        logger.exception("alert ingest failed for a message from %s", feed)
        dead_letter_record(
            feed=feed, body=body, content_type=content_type, error=f"ingest failed: {type(exc).__name__}: {exc}"
        )
        return []
