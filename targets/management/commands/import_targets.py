"""`manage.py import_targets FILE`: load targets from a CSV file, checking every row the way the API does.

The file has a header. Columns (case-insensitive; `ra`/`ra_deg`, `dec`/`dec_deg`, `type`/`target_type`,
`mag`/`magnitude` are the same column):

    name, ra, dec                       required
    type, magnitude, priority           optional
    aliases, filters                    optional, several values separated by ';'
    exposure_sec, cadence_hours, min_observations, total_hours, expires_at, active    optional
    epoch_bjd_tdb, period_days, duration_hours, depth                  optional transit ephemeris

RA and Dec are degrees when they are plain numbers, or sexagesimal: RA in hours (`06:30:32.8`, `06 30 32.8`,
`6h30m32.8s`), Dec in degrees (`+29:40:20`, `-05d42m18s`). Any other column is kept in the target's metadata.
Lines starting with '#' are comments.

Every row is validated by the same serializer as `POST /api/v1/targets`. By default the import is all-or-nothing:
one bad row and nothing is saved (exit status 1). `--skip-bad` imports the good rows; `--dry-run` only checks.
A target whose name is already in the catalogue (as a name or alias) is left alone and reported.
"""

import csv
import io
import math
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from astropy import units as u
from astropy.coordinates import Angle
from django.core.management.base import BaseCommand, CommandError
from rest_framework import serializers

from campaigns.models import Campaign
from campaigns.services import campaign_add_targets
from targets.models import Target, names_key
from targets.services import targets_create, targets_validate

COLUMN_ALIASES = {"ra": "ra_deg", "dec": "dec_deg", "type": "target_type", "mag": "magnitude"}
REQUIRED = ["name", "ra_deg", "dec_deg"]
PLAIN = [
    "target_type", "magnitude", "priority", "exposure_sec", "cadence_hours", "min_observations", "total_hours",
    "expires_at", "active",
]  # fmt: skip
LISTS = ["aliases", "filters"]
EPHEMERIS = ["epoch_bjd_tdb", "period_days", "duration_hours", "depth"]
KNOWN = {*REQUIRED, *PLAIN, *LISTS, *EPHEMERIS}


@dataclass
class Row:
    line: int
    name: str
    data: dict
    # Column -> what is wrong with it, found before the serializer ran (unreadable coordinates).
    problems: dict[str, str] = field(default_factory=dict)


@dataclass
class ParsedFile:
    rows: list[Row] = field(default_factory=list)
    # (line number, target name or "", reason)
    bad: list[tuple[int, str, str]] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)


def parse_ra_deg(text: str) -> float:
    """Degrees if a plain number, else sexagesimal hours (or any unit astropy reads, e.g. `97d38m12s`)."""
    value = _plain_number(text)
    if value is not None:
        return value
    angle = _angle(text, u.hourangle)
    if not 0 <= angle.hour < 24:
        raise ValueError(f"RA {text!r} is outside 0h-24h")
    return float(angle.degree)


def parse_dec_deg(text: str) -> float:
    value = _plain_number(text)
    if value is not None:
        return value
    return float(_angle(text, u.deg).degree)


def _plain_number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def _angle(text: str, unit) -> Angle:
    # astropy only warns about 60 minutes or seconds; here such a value is a bad row, not a guess.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return Angle(text.strip(), unit=unit)
        except Exception as exc:
            raise ValueError(f"{text!r} is neither degrees nor a sexagesimal angle ({exc})") from exc


def _split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(";") if part.strip()]


def _header(fieldnames: list[str]) -> dict[str, str]:
    """Map each raw header cell to its canonical column name; refuse ambiguous or incomplete headers."""
    mapping: dict[str, str] = {}
    seen: dict[str, str] = {}
    for raw in fieldnames:
        key = (raw or "").strip().lower().replace(" ", "_").replace("-", "_")
        canonical = COLUMN_ALIASES.get(key, key)
        if not canonical:
            continue
        if canonical in seen:
            raise CommandError(f"Columns '{seen[canonical]}' and '{raw}' both give {canonical}; keep one.")
        seen[canonical] = raw
        mapping[raw] = canonical
    missing = [c for c in REQUIRED if c not in seen]
    if missing:
        raise CommandError(
            f"The header lacks required column(s): {', '.join(missing)} (found: {', '.join(fieldnames)})."
        )
    return mapping


def parse_targets_csv(stream) -> ParsedFile:
    """Read CSV text into API-shaped target dicts, one per data row, with its line number.

    Cell values stay strings where the serializer converts them, so its messages say what is wrong.
    """
    # Comments are dropped before csv sees them, so physical line numbers are counted here.
    numbered = _NumberedLines(stream)
    reader = csv.DictReader(numbered)
    if not reader.fieldnames:
        raise CommandError("The file is empty: expected a header line and rows.")
    mapping = _header(list(reader.fieldnames))
    result = ParsedFile(extra_columns=sorted(c for c in mapping.values() if c not in KNOWN))
    for record in reader:
        line = numbered.line_of_last
        if None in record:
            name = (record.get(_raw(mapping, "name")) or "").strip()
            result.bad.append((line, name, f"{len(record[None])} more cell(s) than the header has columns"))
            continue
        cells = {mapping[k]: (v or "").strip() for k, v in record.items() if k in mapping}
        if not any(cells.values()):
            continue
        data, problems = _row_to_target(cells)
        result.rows.append(Row(line=line, name=cells.get("name", ""), data=data, problems=problems))
    return result


def _raw(mapping: dict[str, str], canonical: str) -> str | None:
    return next((raw for raw, c in mapping.items() if c == canonical), None)


def _row_to_target(cells: dict[str, str]) -> tuple[dict, dict[str, str]]:
    data: dict = {"name": cells.get("name", "")}
    problems: dict[str, str] = {}
    for column, parse in (("ra_deg", parse_ra_deg), ("dec_deg", parse_dec_deg)):
        text = cells.get(column, "")
        if not text:
            continue  # the serializer says it is required
        try:
            data[column] = parse(text)
        except ValueError as exc:
            problems[column] = str(exc)
    for column in PLAIN:
        if cells.get(column):
            data[column] = cells[column]
    if "target_type" in data:
        data["target_type"] = data["target_type"].lower()
    for column in LISTS:
        if cells.get(column):
            data[column] = _split_list(cells[column])
    ephemeris = {c: cells[c] for c in EPHEMERIS if cells.get(c)}
    if ephemeris:
        data["ephemeris"] = ephemeris
    metadata = {c: v for c, v in cells.items() if c not in KNOWN and v}
    if metadata:
        data["metadata"] = metadata
    return data, problems


class _NumberedLines:
    """Feeds csv the non-comment lines and remembers the physical line number of the last one it gave."""

    def __init__(self, stream):
        self._stream = iter(stream)
        self._physical = 0
        self.line_of_last = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        while True:
            line = next(self._stream)
            self._physical += 1
            if not line.lstrip().startswith("#"):
                self.line_of_last = self._physical
                return line


def _flatten(problems) -> str:
    if isinstance(problems, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in problems.items() if key != "detail")
    if isinstance(problems, list):
        return " ".join(_flatten(p) for p in problems)
    return str(problems)


def validate_rows(rows: list[Row]) -> tuple[list[tuple[Row, dict]], list[tuple[int, str, str]]]:
    """Run the API's validation over every row: (row, validated data) for the good, (line, name, why) for the bad.

    A row is judged whole: an unreadable RA and a bad magnitude on the same line are both reported.
    """
    try:
        validated = targets_validate(items=[row.data for row in rows])
        errors: dict = {}
    except serializers.ValidationError as exc:
        validated, errors = [], exc.detail
    good_rows, bad = [], []
    for index, row in enumerate(rows):
        problems = dict(row.problems)
        for column, messages in (errors.get(str(index)) or {}).items():
            problems.setdefault(column, _flatten(messages))
        if problems:
            bad.append((row.line, row.name, "; ".join(f"{c}: {m}" for c, m in problems.items())))
        else:
            good_rows.append(row)
    if errors or bad:
        validated = targets_validate(items=[row.data for row in good_rows]) if good_rows else []
    return list(zip(good_rows, validated, strict=True)), bad


def split_duplicates(valid: list[tuple[Row, dict]]):
    """Rows naming a target already in the catalogue, and repeats within the file (bad rows)."""
    fresh, existing, repeats = [], [], []
    first_line: dict[str, int] = {}
    for row, data in valid:
        names = [n for n in names_key(data["name"], data.get("aliases") or []).split("|") if n]
        clash = next((n for n in names if n in first_line), None)
        if clash is not None:
            repeats.append((row.line, row.name, f"'{clash}' already named on line {first_line[clash]}"))
            continue
        for n in names:
            first_line[n] = row.line
        if any(Target.objects.named(n).exists() for n in names):
            existing.append(row)
        else:
            fresh.append((row, data))
    return fresh, existing, repeats


class Command(BaseCommand):
    help = "Import targets from a CSV file (name, ra, dec, type, magnitude, priority, ...); see the module doc."

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file with a header line, or '-' for standard input.")
        parser.add_argument("--dry-run", action="store_true", help="Check every row; save nothing.")
        parser.add_argument(
            "--skip-bad", action="store_true", help="Import the good rows even if some are bad (default: none)."
        )
        parser.add_argument("--campaign", help="Also add the imported targets to this existing campaign (by name).")

    def handle(self, *args, **options):
        campaign = None
        if options["campaign"]:
            campaign = Campaign.objects.filter(name=options["campaign"]).first()
            if campaign is None:
                raise CommandError(f"No campaign named '{options['campaign']}'.")

        parsed = self._read(options["file"])
        valid, invalid = validate_rows(parsed.rows)
        fresh, existing, repeats = split_duplicates(valid)
        bad = sorted([*parsed.bad, *invalid, *repeats])
        total = len(parsed.rows) + len(parsed.bad)

        for line, name, why in bad:
            label = f" ({name})" if name else ""
            self.stderr.write(f"line {line}{label}: {why}")
        for row in existing:
            self.stdout.write(f"line {row.line} ({row.name}): already in the catalogue; left as it is")
        if parsed.extra_columns:
            self.stdout.write(f"Extra columns kept in each target's metadata: {', '.join(parsed.extra_columns)}")

        summary = f"{total} row(s) read: {len(fresh)} new, {len(existing)} already in the catalogue, {len(bad)} bad."
        if bad and not options["skip_bad"]:
            self.stdout.write(summary)
            raise CommandError(
                f"{len(bad)} bad row(s); nothing was imported. Fix them, or use --skip-bad to import the good rows."
            )
        if options["dry_run"]:
            self.stdout.write(summary)
            self.stdout.write(self.style.SUCCESS(f"Dry run: {len(fresh)} target(s) would be created; nothing saved."))
            return
        created = targets_create(items=[data for _, data in fresh])
        self.stdout.write(summary)
        message = f"Created {len(created)} target(s)"
        if campaign is not None and created:
            added = campaign_add_targets(campaign=campaign, targets=created)
            message += f" and added {added} to campaign '{campaign.name}'"
        self.stdout.write(self.style.SUCCESS(message + (f"; skipped {len(bad)} bad row(s)." if bad else ".")))

    def _read(self, path: str) -> ParsedFile:
        if path == "-":
            return parse_targets_csv(io.StringIO(sys.stdin.read()))
        file = Path(path)
        if not file.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            with file.open(encoding="utf-8-sig", newline="") as stream:
                return parse_targets_csv(stream)
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path} is not UTF-8 text: {exc}") from exc
        except csv.Error as exc:
            raise CommandError(f"{path} is not readable CSV: {exc}") from exc
