"""The `obsclient` command: init, register, check, run, status, plan."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from obsclient import __version__
from obsclient.api import ApiError, ServerClient, iso_utc, parse_time
from obsclient.config import Config, ConfigError, default_config_path, load_config, render_template
from obsclient.drivers import DriverError, make_driver
from obsclient.outbox import Outbox

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
MIN_FREE_BYTES = 2 * 1024**3


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_CONFIG
    try:
        return int(args.handler(args) or EXIT_OK)
    except ConfigError as exc:
        print(f"obsclient: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        print("obsclient: stopped.", file=sys.stderr)
        return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="obsclient", description="The telescope network's site agent.")
    parser.add_argument("--version", action="version", version=f"obsclient {__version__}")
    parser.add_argument(
        "-c",
        "--config",
        type=Path,
        default=None,
        help="configuration file (default $OBSCLIENT_CONFIG or ~/.obsclient/obsclient.yaml)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", metavar="command")

    init = commands.add_parser("init", help="write a commented configuration file")
    init.add_argument("--url", default="http://127.0.0.1:8000", help="the server's address")
    init.add_argument("--name", default="My observatory", help="the site's name")
    init.add_argument("--latitude", type=float, default=0.0, help="degrees, north positive")
    init.add_argument("--longitude", type=float, default=0.0, help="degrees, east positive")
    init.add_argument("--elevation", type=float, default=0.0, help="metres")
    init.add_argument("--timezone", default="UTC")
    init.add_argument("--driver", choices=("simulator", "alpaca", "indi"), default="simulator")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(handler=cmd_init)

    register = commands.add_parser("register", help="register this site with an observer's token; stores the key")
    register.add_argument(
        "--token",
        default=os.environ.get("OBSCLIENT_OBSERVER_TOKEN"),
        help="your personal API token (or $OBSCLIENT_OBSERVER_TOKEN)",
    )
    register.set_defaults(handler=cmd_register)

    check = commands.add_parser("check", help="check server, key, devices and disk space")
    check.set_defaults(handler=cmd_check)

    run = commands.add_parser("run", help="run the observing loop")
    run.add_argument("--once", action="store_true", help="one cycle, then exit")
    run.set_defaults(handler=cmd_run)

    status = commands.add_parser("status", help="outbox depth, last upload, last cycle, devices")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=cmd_status)

    plan = commands.add_parser("plan", help="tonight's plan from the server")
    plan.add_argument("--step-min", type=float, default=30.0, help="minutes between the times asked")
    plan.add_argument("--count", type=int, default=3, help="targets shown per time")
    plan.add_argument(
        "--ekos",
        type=Path,
        metavar="DIR",
        help="also write the plan as an EKOS scheduler list (.esl) and sequences (.esq) in DIR",
    )
    plan.set_defaults(handler=cmd_plan)

    watch = commands.add_parser("watch", help="upload the light frames EKOS saves in a folder")
    watch.add_argument("folder", type=Path, help="the folder given to `plan --ekos`")
    watch.add_argument("--once", action="store_true", help="one scan and upload, then exit")
    watch.add_argument("--interval-sec", type=float, default=10.0, help="seconds between scans")
    watch.set_defaults(handler=cmd_watch)
    return parser


def _config(args: argparse.Namespace) -> Config:
    config = load_config(args.config or default_config_path())
    level = logging.DEBUG if args.verbose else getattr(logging, config.log_level)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return config


def _client(config: Config) -> ServerClient:
    return ServerClient(
        config.server.url,
        api_key=config.api_key_value(),
        timeout_sec=config.server.timeout_sec,
        verify_tls=config.server.verify_tls,
    )


def _outbox(config: Config) -> Outbox:
    return Outbox(
        config.data_dir / "outbox.sqlite3",
        backoff_base_sec=config.upload.backoff_base_sec,
        backoff_max_sec=config.upload.backoff_max_sec,
    )


def cmd_init(args: argparse.Namespace) -> int:
    path: Path = (args.config or default_config_path()).expanduser()
    if path.exists() and not args.force:
        print(f"obsclient: {path} already exists (use --force to overwrite it).", file=sys.stderr)
        return EXIT_FAILED
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        render_template(
            url=args.url,
            name=json.dumps(args.name),
            latitude=args.latitude,
            longitude=args.longitude,
            elevation_m=args.elevation,
            timezone=args.timezone,
            driver=args.driver,
        ),
        encoding="utf-8",
    )
    load_config(path)  # the template must always be valid
    print(f"Wrote {path}. Edit it, then run `obsclient register --token YOUR_TOKEN`.")
    return EXIT_OK


def site_registration_body(config: Config) -> dict[str, Any]:
    site = config.site
    body: dict[str, Any] = {
        "name": site.name,
        "latitude": site.latitude,
        "longitude": site.longitude,
        "elevation_m": site.elevation_m,
        "timezone": site.timezone,
        "aperture_mm": site.aperture_mm,
        "focal_length_mm": site.focal_length_mm,
        "camera_model": site.instrument,
        "filters": site.filters,
        "fov_arcmin": site.fov_arcmin,
        "limiting_mag": site.limiting_mag,
        "mount_type": site.mount_type,
        "automation_level": site.automation_level,
        "min_altitude_deg": site.min_altitude_deg,
    }
    if site.horizon:
        body["horizon"] = [list(point) for point in site.horizon]
    return {key: value for key, value in body.items() if value not in (None, [])}


def cmd_register(args: argparse.Namespace) -> int:
    config = _config(args)
    if not args.token:
        raise ConfigError("register needs your personal API token: pass --token or set OBSCLIENT_OBSERVER_TOKEN.")
    if config.site.site_id and config.api_key_value():
        print(f"obsclient: this site is already registered as {config.site.site_id}.", file=sys.stderr)
        return EXIT_FAILED
    try:
        answer = _client(config).site_register(args.token, site_registration_body(config))
    except ApiError as exc:
        print(f"obsclient: registration failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    key_file = config.server.api_key_file
    if key_file is None:
        raise ConfigError("server.api_key_file must be set so register can store the site key.")
    store_key(key_file, answer["api_key"])
    assert config.path is not None
    write_site_id(config.path, str(answer["site_id"]))
    print(f"Registered site {answer['site_id']}; the key is in {key_file} (readable only by you).")
    return EXIT_OK


def store_key(path: Path, key: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Create with 0600 from the start: the key must never be readable by others, not even for a moment.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    os.chmod(path, 0o600)


def write_site_id(config_path: Path, site_id: str) -> None:
    """Set site.site_id in the YAML file, keeping its comments."""
    new_line = f"  site_id: {site_id}\n"
    lines = config_path.read_text(encoding="utf-8").splitlines(keepends=True)
    site_line = next((i for i, line in enumerate(lines) if re.match(r"^site:\s*(#.*)?$", line)), None)
    if site_line is None:
        raise ConfigError(f"site is missing from {config_path} (it must be a block, one key per line).")
    for index in range(site_line + 1, len(lines)):
        if re.match(r"^\S", lines[index]):
            break  # the next top-level section: there is no site_id line yet
        if re.match(r"^\s+#?\s*site_id:", lines[index]):
            lines[index] = new_line
            break
    else:
        index = -1
    if lines[index] != new_line:
        lines.insert(site_line + 1, new_line)
    config_path.write_text("".join(lines), encoding="utf-8")


def cmd_check(args: argparse.Namespace) -> int:
    config = _config(args)
    results: list[tuple[str, bool, str]] = []
    client = _client(config)
    try:
        status = client.status()
        results.append(("server", True, f"{config.server.url} answers (version {status.get('version', '?')})"))
    except ApiError as exc:
        results.append(("server", False, str(exc)))
    if not config.api_key_value():
        results.append(("site key", False, "no key; run `obsclient register`"))
    elif not config.site.site_id:
        results.append(("site key", False, "site.site_id is not set"))
    else:
        try:
            answer = client.heartbeat(config.site.site_id, {"state": "idle", "client_version": __version__})
            offset = ""
            if answer.get("server_time"):
                skew = (datetime.now(UTC) - parse_time(answer["server_time"])).total_seconds()
                offset = f"; clock offset {skew:+.1f} s" + (" (too large: fix NTP)" if abs(skew) > 2 else "")
            results.append(("site key", True, f"accepted for site {config.site.site_id}{offset}"))
        except ApiError as exc:
            results.append(("site key", False, str(exc)))
    driver = make_driver(config)
    try:
        driver.connect()
        for device, reply in driver.describe().items():
            results.append((device, not reply.startswith("error"), reply))
    except (DriverError, OSError) as exc:
        results.append((f"{config.driver.kind} driver", False, str(exc)))
    except Exception as exc:  # an unreachable device server raises library-specific errors
        results.append((f"{config.driver.kind} driver", False, f"{exc.__class__.__name__}: {exc}"))
    finally:
        with contextlib.suppress(Exception):
            driver.disconnect()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(config.data_dir).free
    results.append(("disk", free >= MIN_FREE_BYTES, f"{free / 1024**3:.1f} GB free in {config.data_dir}"))
    width = max(len(name) for name, _, _ in results)
    for name, ok, message in results:
        print(f"{'ok  ' if ok else 'FAIL'} {name:<{width}}  {message}")
    return EXIT_OK if all(ok for _, ok, _ in results) else EXIT_FAILED


def cmd_run(args: argparse.Namespace) -> int:
    from obsclient.loop import Agent

    config = _config(args)
    if not config.site.site_id:
        raise ConfigError("site.site_id is not set; run `obsclient register` first.")
    driver = make_driver(config)
    try:
        driver.connect()
    except Exception as exc:
        print(f"obsclient: cannot connect to the {config.driver.kind} devices: {exc}", file=sys.stderr)
        return EXIT_FAILED
    # A service manager stops the agent with SIGTERM: leave as after Ctrl-C (outbox closed, devices released).
    signal.signal(signal.SIGTERM, _interrupt)
    outbox = _outbox(config)
    try:
        _save_devices(config, driver.describe())
        agent = Agent(config, driver, _client(config), outbox)
        result = agent.run(once=args.once)
        print(f"{result.state}: {result.target_name or ''} {'; '.join(result.notes)}".strip())
        return EXIT_OK if result.state != "error" else EXIT_FAILED
    finally:
        outbox.close()
        driver.disconnect()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _save_devices(config: Config, devices: dict[str, str]) -> None:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    (config.data_dir / "devices.json").write_text(
        json.dumps({"checked_at": iso_utc(datetime.now(UTC)), "devices": devices}, indent=2), encoding="utf-8"
    )


def cmd_status(args: argparse.Namespace) -> int:
    config = _config(args)
    outbox = _outbox(config)
    try:
        summary = outbox.summary()
    finally:
        outbox.close()
    state = _read_json(config.data_dir / "state.json")
    devices = _read_json(config.data_dir / "devices.json")
    if args.json:
        print(json.dumps({"outbox": summary, "last_cycle": state, "devices": devices}, indent=2))
        return EXIT_OK
    print(f"site:        {config.site.name} ({config.site.site_id or 'not registered'})")
    print(f"outbox:      {summary['pending']} waiting, {summary['done']} uploaded, {summary['rejected']} refused")
    print(f"last upload: {_when(summary['last_upload_at'])}")
    if summary["oldest_pending_at"]:
        print(f"oldest wait: since {_when(summary['oldest_pending_at'])}")
    if summary["last_error"]:
        print(f"last error:  {summary['last_error']}")
    if state:
        print(f"last cycle:  {state.get('last_cycle_at')} {state.get('state')} {state.get('last_target') or ''}")
        if state.get("clock_offset_sec") is not None:
            print(f"clock:       {state['clock_offset_sec']:+.1f} s from the server")
    if devices:
        print(f"devices (as of {devices.get('checked_at')}):")
        for name, answer in devices.get("devices", {}).items():
            print(f"  {name}: {answer}")
    return EXIT_OK


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _when(epoch: float | None) -> str:
    if not epoch:
        return "never"
    return iso_utc(datetime.fromtimestamp(epoch, UTC))


def night_times(config: Config, start: datetime, step: timedelta) -> list[datetime]:
    """Times from now (or dusk) until dawn, a step apart: when the Sun is below the observing limit."""
    from obsclient.sky import sun_altitude_deg

    limit = config.observing.max_sun_altitude_deg
    times: list[datetime] = []
    moment = start
    end = start + timedelta(hours=24)
    while moment < end:
        dark = sun_altitude_deg(config.site, moment) <= limit
        if dark:
            times.append(moment)
        elif times:
            break  # dawn
        moment += step
    return times


def cmd_plan(args: argparse.Namespace) -> int:
    config = _config(args)
    if not config.site.site_id:
        raise ConfigError("site.site_id is not set; run `obsclient register` first.")
    client = _client(config)
    step = timedelta(minutes=args.step_min)
    times = night_times(config, datetime.now(UTC).replace(second=0, microsecond=0), step)
    if not times:
        print("No dark time in the next 24 hours.")
        return EXIT_OK
    answers: list[tuple[datetime, list[dict[str, Any]]]] = []
    for moment in times:
        try:
            answer = client.targets(site_id=config.site.site_id, at=moment, count=args.count)
        except ApiError as exc:
            print(f"obsclient: cannot fetch the plan: {exc}", file=sys.stderr)
            return EXIT_FAILED
        answers.append((moment, list(answer.get("targets") or [])))
    print(f"Plan for {config.site.name}, {iso_utc(times[0])} to {iso_utc(times[-1])}:")
    for moment, targets in answers:
        entries = [
            f"{t['name']} (alt {t.get('altitude_deg') or 0:.0f}°, {t.get('filter') or '-'}, "
            f"{t.get('exposure_sec') or config.observing.default_exposure_sec:.0f} s)"
            for t in targets
        ]
        print(f"  {moment.strftime('%H:%M')}Z  {'; '.join(entries) or 'nothing'}")
    if args.ekos:
        from obsclient.ekos import plan_windows, write_ekos_plan

        schedule = write_ekos_plan(config, args.ekos, plan_windows(answers, step))
        print(f"Wrote the EKOS scheduler list {schedule}; load it in EKOS, then run `obsclient watch {args.ekos}`.")
    return EXIT_OK


def cmd_watch(args: argparse.Namespace) -> int:
    import time

    from obsclient.ekos import watch_scan

    config = _config(args)
    if not config.site.site_id:
        raise ConfigError("site.site_id is not set; run `obsclient register` first.")
    if not args.folder.is_dir():
        raise ConfigError(f"watch needs an existing folder, and {args.folder} is not one.")
    outbox = _outbox(config)
    client = _client(config)
    try:
        while True:
            queued = watch_scan(config, args.folder, outbox)
            report = outbox.flush(client, compress=config.upload.gzip)
            if queued or report.images_sent:
                print(f"queued {len(queued)} new frame(s); uploaded {report.images_sent}; {outbox.depth()} waiting")
            if args.once:
                return EXIT_OK
            time.sleep(args.interval_sec)
    finally:
        outbox.close()
