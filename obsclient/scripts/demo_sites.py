"""Start three simulated sites on three continents against a server: a network that observes right away.

    python obsclient/scripts/demo_sites.py --url http://127.0.0.1:8000 --token OBSERVER_TOKEN
    python obsclient/scripts/demo_sites.py --url http://127.0.0.1:8000 --keys-file var/demo_site_keys.json

With --keys-file (written by the server's `manage.py seed_demo`) the agents run as the demo network's own sites
with their keys; with --token three new sites are registered.

Each site gets a folder under --dir (default ./var/demo-sites) with its configuration, key and data; sites
already registered there are reused. The agents run until Ctrl-C (or one cycle each with --once). With sites at
La Palma, Siding Spring and Mauna Kea, at least one of them is in the dark at any hour.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import yaml

SITES = [
    {
        "name": "Demo La Palma",
        "latitude": 28.7606,
        "longitude": -17.8814,
        "elevation_m": 2396,
        "timezone": "Atlantic/Canary",
        "aperture_mm": 400,
        "focal_length_mm": 2000,
    },
    {
        "name": "Demo Siding Spring",
        "latitude": -31.2733,
        "longitude": 149.0617,
        "elevation_m": 1165,
        "timezone": "Australia/Sydney",
        "aperture_mm": 300,
        "focal_length_mm": 1500,
    },
    {
        "name": "Demo Mauna Kea",
        "latitude": 19.8207,
        "longitude": -155.4681,
        "elevation_m": 4205,
        "timezone": "Pacific/Honolulu",
        "aperture_mm": 200,
        "focal_length_mm": 1000,
    },
]


def site_config(url: str, site: dict[str, object], folder: Path) -> dict[str, object]:
    return {
        "server": {"url": url, "api_key_file": "site.key"},
        "site": {
            **site,
            "telescope": f"{site['name']} reflector",
            "instrument": "Simulated CMOS",
            "filters": ["V", "R", "Clear"],
            "min_altitude_deg": 25,
            "limiting_mag": 17.5,
            "mount_type": "equatorial",
            "automation_level": "robotic",
        },
        "driver": {"kind": "simulator", "simulator": {"seeing_arcsec": 2.2, "realtime": True}},
        "observing": {"settle_sec": 1, "min_poll_sec": 10},
        "safety": {"safe_for_sec": 60},
        "data_dir": str(folder / "data"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--token", help="an observer's API token (POST /api/v1/auth/token): register three new sites")
    who.add_argument("--keys-file", type=Path, help="seed_demo's keys file: run as the demo network's sites")
    parser.add_argument("--dir", type=Path, default=Path("var/demo-sites"))
    parser.add_argument("--once", action="store_true", help="one cycle per site, then exit")
    args = parser.parse_args()

    configs = _configs_from_keys(args) if args.keys_file else _registered_configs(args)
    command = ["run", "--once"] if args.once else ["run"]
    agents = [subprocess.Popen([sys.executable, "-m", "obsclient", "-c", str(path), *command]) for path in configs]
    try:
        return max(agent.wait() for agent in agents)
    except KeyboardInterrupt:
        for agent in agents:
            agent.terminate()
        for agent in agents:
            agent.wait(30)
        return 0


def _configs_from_keys(args: argparse.Namespace) -> list[Path]:
    configs = []
    for entry in json.loads(args.keys_file.read_text(encoding="utf-8"))["sites"]:
        folder = args.dir / str(entry["site_id"])
        folder.mkdir(parents=True, exist_ok=True)
        site = {k: entry[k] for k in ("name", "latitude", "longitude", "timezone") if k in entry}
        config = site_config(args.url, site, folder)
        config["site"]["site_id"] = entry["site_id"]  # type: ignore[index]
        config["site"]["filters"] = entry.get("filters") or ["V", "R", "Clear"]  # type: ignore[index]
        path = folder / "obsclient.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        key_file = folder / "site.key"
        key_file.write_text(entry["api_key"] + "\n", encoding="utf-8")
        key_file.chmod(0o600)
        configs.append(path)
    return configs


def _registered_configs(args: argparse.Namespace) -> list[Path]:
    configs = []
    for site in SITES:
        folder = args.dir / str(site["name"]).lower().replace(" ", "-")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "obsclient.yaml"
        if not path.exists():
            path.write_text(yaml.safe_dump(site_config(args.url, site, folder), sort_keys=False), encoding="utf-8")
        if not (folder / "site.key").exists():
            subprocess.run(
                [sys.executable, "-m", "obsclient", "-c", str(path), "register", "--token", args.token], check=True
            )
        configs.append(path)
    return configs


if __name__ == "__main__":
    sys.exit(main())
