"""Benchmark: alerts per second end to end — parser, rules and database — in batches, with the in-memory sky
index and without it (a database cone search per alert), and the one-at-a-time path the API uses.

    .venv/bin/python bench/bench_alert_ingest.py                       # SQLite in a temporary folder
    DATABASE_URL=postgres://... .venv/bin/python bench/bench_alert_ingest.py   # PostgreSQL (a scratch database!)
    .venv/bin/python bench/bench_alert_ingest.py --update-results      # also write our subsection of RESULTS.md

The catalogue holds --targets existing targets (random sky); the alerts are a mix of native messages as raw
bytes (normalised JSON SN candidates, GCN Kafka JSON X-ray transients, Swift BAT VOEvent GRBs); a share of them
lands on an existing target (crossmatch merge) or repeats an earlier series (update). Goal (issue 6): ≥ 1,000
alerts/s in batch.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "alerts" / "tests" / "data"
SUBHEADING = "### Ingest end to end: parser + rules + database"
PARENT_HEADING = "## Alerts"


def setup_django() -> str:
    tmp = tempfile.mkdtemp(prefix="bench-ingest-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "network.settings")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp}/bench.sqlite3")
    os.environ.setdefault("MEDIA_ROOT", f"{tmp}/media")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from django.db import connection

    return connection.vendor


def seed_targets(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    from alerts.crossmatch import sky_cells
    from targets.models import Target

    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    cells = sky_cells(ra, dec)
    batch = [
        Target(name=f"T{i}", ra_deg=float(a), dec_deg=float(d), sky_cell=int(c), names_key=f"|t{i}|",
               target_type="variable", priority=1.0)
        for i, (a, d, c) in enumerate(zip(ra, dec, cells, strict=True))
    ]  # fmt: skip
    Target.objects.bulk_create(batch, batch_size=2000)
    return ra, dec


def make_messages(n: int, rng: np.random.Generator, ra_cat: np.ndarray, dec_cat: np.ndarray, tag: str):
    """(body, content_type) pairs: 50 % SN candidates (normalised JSON), 25 % GCN JSON, 25 % VOEvent GRBs."""
    now = dt.datetime.now(dt.UTC)
    bat = (DATA / "voevent" / "voeventparse_SWIFT_bat_position_v2.0_example.xml").read_text()
    bat = re.sub(
        r"<ISOTime>[^<]*</ISOTime>", f"<ISOTime>{now - dt.timedelta(hours=2):%Y-%m-%dT%H:%M:%S}</ISOTime>", bat
    )
    ep = json.loads((DATA / "gcn_kafka" / "einstein_probe_wxt_alert.example.json").read_text())
    messages = []
    for i in range(n):
        ra, dec = float(rng.uniform(0, 360)), float(np.degrees(np.arcsin(rng.uniform(-1, 1))))
        kind = i % 4
        if kind in (0, 1):
            if i % 10 == 0:  # on an existing target: a crossmatch merge
                j = int(rng.integers(len(ra_cat)))
                ra, dec = float(ra_cat[j]), float(np.clip(dec_cat[j] + 0.3 / 3600, -90, 90))
            series = f"{tag}{i - 8 if i % 20 == 4 and i >= 8 else i}"  # every 20th repeats an earlier series
            body = json.dumps({"source": "TNS", "external_id": series, "ra_deg": ra, "dec_deg": dec,
                               "alert_type": "SN candidate", "magnitude": 17.0,
                               "event_time": (now - dt.timedelta(days=1)).isoformat()})  # fmt: skip
            messages.append((body.encode(), "application/json"))
        elif kind == 2:
            notice = {**ep, "id": [f"{tag}{i}"], "ra": ra, "dec": dec,
                      "trigger_time": (now - dt.timedelta(hours=3)).isoformat()}  # fmt: skip
            messages.append((json.dumps(notice).encode(), "application/json"))
        else:
            xml = bat.replace("532871", f"9{abs(hash(tag)) % 1000:03d}{i:06d}")
            xml = re.sub(r"<C1>[^<]*</C1>", f"<C1>{ra:.5f}</C1>", xml)
            xml = re.sub(r"<C2>[^<]*</C2>", f"<C2>{dec:.5f}</C2>", xml)
            messages.append((xml.encode(), "application/xml"))
    return messages


def run_batches(messages, batch_size: int, use_index: bool) -> tuple[float, dict]:
    from alerts import services
    from alerts.formats import parse

    t0 = time.perf_counter()
    totals = {"created": 0, "updated": 0, "targets": 0, "merged": 0}
    for start in range(0, len(messages), batch_size):
        parsed = []
        for body, content_type in messages[start : start + batch_size]:
            parsed.extend(parse(body, content_type))
        result = services.alerts_ingest_many(parsed, use_index=use_index)
        totals["created"] += result.created
        totals["updated"] += result.updated
        totals["targets"] += result.targets_created
        totals["merged"] += sum(r.action == "merge_into_existing" for r in result.results)
    return time.perf_counter() - t0, totals


def run_single(messages) -> float:
    from alerts import services
    from alerts.formats import parse

    t0 = time.perf_counter()
    for body, content_type in messages:
        for p in parse(body, content_type):
            services.alert_ingest(parsed=p)
    return time.perf_counter() - t0


def reset(n_targets: int) -> None:
    from alerts.models import Alert
    from campaigns.models import CampaignTarget
    from targets.models import Target

    Alert.objects.all().delete()
    CampaignTarget.objects.all().delete()
    Target.objects.filter(target_type="transient").delete()
    assert Target.objects.count() == n_targets


def update_results(section: str, vendor: str) -> None:
    """Replace this database's subsection inside `## Alerts`, or add it at the end of that section; leave the
    rest of the file (other benchmarks' sections) as it is."""
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    ours = re.compile(rf"^{re.escape(SUBHEADING)} \({re.escape(vendor)},.*?\n(?=^## |^### |\Z)", re.S | re.M)
    if ours.search(text):
        text = ours.sub(lambda _m: section + "\n", text, count=1)
    else:
        parent = re.compile(rf"^{re.escape(PARENT_HEADING)}.*?(?=^## |\Z)", re.S | re.M)
        found = parent.search(text)
        if found:
            end = found.end()
            text = text[:end].rstrip("\n") + "\n\n" + section + "\n" + text[end:]
        else:
            text = text.rstrip("\n") + f"\n\n{PARENT_HEADING}\n\n" + section
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--targets", type=int, default=100_000)
    ap.add_argument("--alerts", type=int, default=5_000)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--single", type=int, default=500, help="alerts for the one-at-a-time path")
    ap.add_argument("--update-results", action="store_true")
    args = ap.parse_args()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    vendor = setup_django()
    rng = np.random.default_rng(6)
    t0 = time.perf_counter()
    ra_cat, dec_cat = seed_targets(args.targets, rng)
    seed_s = time.perf_counter() - t0
    rows = []
    for label, use_index in (("batch, in-memory sky index", True), ("batch, DB cone search per alert", False)):
        reset(args.targets)
        messages = make_messages(args.alerts, rng, ra_cat, dec_cat, tag=f"{use_index}-")
        seconds, totals = run_batches(messages, args.batch, use_index)
        rows.append((label, args.alerts, seconds, totals))
        print(label, f"{args.alerts / seconds:,.0f} alerts/s", totals, flush=True)
    reset(args.targets)
    messages = make_messages(args.single, rng, ra_cat, dec_cat, tag="single-")
    single_s = run_single(messages)
    print("single", f"{args.single / single_s:,.0f} alerts/s", flush=True)

    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SUBHEADING + f" ({vendor}, goal ≥ 1,000 alerts/s in batch)",
        "",
        f"`bench/bench_alert_ingest.py`, {stamp}, {vendor}, {os.cpu_count()} CPU, load average at start "
        f"{load:.1f} (other jobs share the machine), {args.targets:,} existing targets (seeded in "
        f"{seed_s:.1f} s), batches of {args.batch:,}. Messages as raw bytes: 50 % normalised JSON SN candidates, "
        "25 % GCN Kafka JSON (Einstein Probe), 25 % Swift BAT VOEvent GRBs (these join the GRB campaign); "
        "5 % land on an existing target (merge), 2.5 % repeat a series (update).",
        "",
        "| path | alerts | seconds | alerts/s | created | updated | targets made | merges |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, n, seconds, t in rows:
        lines.append(
            f"| {label} | {n:,} | {seconds:.2f} | {n / seconds:,.0f} | {t['created']:,} | {t['updated']:,} | "
            f"{t['targets']:,} | {t['merged']:,} |"
        )
    lines.append(f"| one at a time (`alert_ingest`, as the API) | {args.single:,} | {single_s:.2f} | "
                 f"{args.single / single_s:,.0f} | | | | |")  # fmt: skip
    section = "\n".join(lines) + "\n"
    print(section)
    if args.update_results:
        update_results(section, vendor)


if __name__ == "__main__":
    main()
