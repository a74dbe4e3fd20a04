"""`manage.py seed_demo`: fill an empty database with a small, believable demo network.

- ~50 real targets with their ICRS positions and V magnitudes (targets/data/demo_targets.csv): transiting hot
  Jupiters with published ephemerides, classical variables and cataclysmic variables, a few famous transients;
  spread over both hemispheres and all right ascensions, so something is up at any time from any site.
- Three sites on three continents (Arizona, Namibia, New South Wales), owned by the demo observer.
- Users: `observer`, `coordinator` (staff + superuser), `researcher`, `alertfeed` (may post alerts); passwords
  from the DEMO_PASSWORD environment variable (default `observer-demo-pass`). Existing users keep their password.
- Campaigns: hot-Jupiter transit timing, cataclysmic-variable monitoring, recent supernovae.

Site keys exist in clear only now: they are printed and written to var/demo_site_keys.json (git-ignored) for the
demo site agents. If the catalogue already has targets the command does nothing, unless --force: then it adds
whatever demo data is missing and gives the demo sites fresh keys (the old ones stop working), so the keys file
is always valid after a run.
"""

import json
import os
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from rest_framework.authtoken.models import Token

from campaigns.models import Campaign
from campaigns.services import campaign_add_targets, campaign_save
from sites.models import Site
from sites.serializers import SiteWriteSerializer
from sites.services import site_register, site_rotate_key, site_set_approval
from targets.management.commands.import_targets import parse_targets_csv, split_duplicates, validate_rows
from targets.models import Target
from targets.services import targets_create

DEMO_TARGETS_CSV = Path(__file__).resolve().parents[2] / "data" / "demo_targets.csv"
DEFAULT_PASSWORD = "observer-demo-pass"

USERS = {
    "observer": {"first_name": "Olivia", "last_name": "Observer"},
    "coordinator": {"first_name": "Carlos", "last_name": "Coordinator", "is_staff": True, "is_superuser": True},
    "researcher": {"first_name": "Rhea", "last_name": "Researcher"},
    "alertfeed": {"first_name": "Alert", "last_name": "Feed"},
}

# Plausible amateur/small-professional set-ups; FOV from sensor width and focal length.
SITES = [
    {
        "name": "Sonoran Skies Observatory",
        "latitude": 31.4531, "longitude": -110.2187, "elevation_m": 1420, "timezone": "America/Phoenix",
        "aperture_mm": 356, "focal_length_mm": 2737, "camera_model": "ZWO ASI2600MM Pro",
        "filters": ["B", "V", "R", "I", "Clear"], "fov_arcmin": 29.5, "limiting_mag": 18.5,
        "mount_type": "equatorial", "automation_level": "robotic", "min_altitude_deg": 25,
        # Mountains to the west and south-west.
        "horizon": [[0, 15], [90, 18], [180, 22], [225, 30], [270, 28], [315, 20]],
        "twilight_sun_altitude_deg": -12,
    },
    {
        "name": "Kalahari Remote Observatory",
        "latitude": -23.4580, "longitude": 18.0170, "elevation_m": 1344, "timezone": "Africa/Windhoek",
        "aperture_mm": 305, "focal_length_mm": 2440, "camera_model": "QHY600M",
        "filters": ["V", "R", "I", "Clear"], "fov_arcmin": 50.7, "limiting_mag": 18.0,
        "mount_type": "equatorial", "automation_level": "remote", "min_altitude_deg": 20,
        # A flat desert horizon.
        "horizon": [[0, 12], [90, 10], [180, 12], [270, 10]],
        "twilight_sun_altitude_deg": -15,
    },
    {
        "name": "Warrumbungle Backyard Observatory",
        "latitude": -31.2733, "longitude": 149.0644, "elevation_m": 1122, "timezone": "Australia/Sydney",
        "aperture_mm": 280, "focal_length_mm": 1960, "camera_model": "ZWO ASI1600MM Pro",
        "filters": ["V", "R", "Clear"], "fov_arcmin": 31.0, "limiting_mag": 17.5,
        "mount_type": "equatorial", "automation_level": "robotic", "min_altitude_deg": 30,
        # Gum trees to the north-east.
        "horizon": [[0, 30], [45, 42], [90, 32], [180, 25], [270, 30]],
        "twilight_sun_altitude_deg": -12,
    },
]  # fmt: skip

CV_CLASSES = {"UGSS", "UGZ", "UGER", "UGSU", "AM", "NR"}
CAMPAIGNS = [
    {
        "name": "Hot Jupiter transit timing",
        "kind": Campaign.Kind.TRANSIT,
        "description": "Mid-transit times of short-period giant planets, to look for orbital decay (WASP-12 b) "
        "and transit-timing variations. Observe the whole transit with an hour of baseline either side.",
        "priority_boost": 1.5,
        "redundancy": 2,
        "members": lambda t: t.target_type == Target.Type.EXOPLANET,
    },
    {
        "name": "Cataclysmic variable monitoring",
        "kind": Campaign.Kind.MONITORING,
        "description": "Nightly snapshots of dwarf novae, polars and recurrent novae to catch outbursts early "
        "(T CrB is overdue).",
        "priority_boost": 1.3,
        "redundancy": 1,
        "members": lambda t: (t.metadata or {}).get("variable_class") in CV_CLASSES,
    },
    {
        "name": "Recent supernovae",
        "kind": Campaign.Kind.TRANSIENT,
        "description": "Late-time light curves of the nearest recent core-collapse supernovae.",
        "priority_boost": 1.2,
        "redundancy": 1,
        "members": lambda t: t.name in {"SN 2023ixf", "SN 2024ggi"},
    },
]


class Command(BaseCommand):
    help = "Fill an empty database with a demo network: real targets, three sites, users, campaigns."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even if targets exist: add the missing demo data and issue fresh keys for the demo sites.",
        )
        parser.add_argument(
            "--keys-file",
            default=str(Path(getattr(settings, "VAR_DIR", Path(settings.BASE_DIR) / "var")) / "demo_site_keys.json"),
            help="Where to write the demo sites' keys (default: var/demo_site_keys.json).",
        )

    def handle(self, *args, **options):
        existing = Target.objects.count()
        if existing and not options["force"]:
            self.stdout.write(
                f"The catalogue already has {existing} target(s); seed_demo only fills an empty database. "
                "Nothing was changed (use --force to add the missing demo data and re-key the demo sites)."
            )
            return

        password = os.environ.get("DEMO_PASSWORD") or DEFAULT_PASSWORD
        users = {name: self._user(name, fields, password) for name, fields in USERS.items()}
        self._grant_alert_permission(users["alertfeed"])
        tokens = {name: Token.objects.get_or_create(user=user)[0].key for name, user in users.items()}

        targets = self._targets()
        keys = self._sites(owner=users["observer"])
        self._campaigns(targets=targets, coordinator=users["coordinator"])

        self._write_keys(Path(options["keys_file"]), keys=keys, tokens=tokens)
        self.stdout.write("")
        self.stdout.write("Site keys (shown once; also written to the keys file):")
        for entry in keys:
            self.stdout.write(f"  {entry['name']} ({entry['site_id']}): {entry['api_key']}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo network ready: {Target.objects.count()} targets, {Site.objects.count()} sites, "
                f"{Campaign.objects.count()} campaigns. Users: {', '.join(USERS)} "
                f"(password from DEMO_PASSWORD, default '{DEFAULT_PASSWORD}' for users made now). "
                f"Keys file: {options['keys_file']}"
            )
        )

    def _user(self, username: str, fields: dict, password: str):
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=username, defaults={**fields, "email": f"{username}@demo.example.org"}
        )
        if created:
            user.set_password(password)
            user.save()
            self.stdout.write(f"User '{username}' created.")
        else:
            # Keep an existing user's password; make sure the demo role holds.
            changed = [name for name, value in fields.items() if getattr(user, name) != value]
            for name in changed:
                setattr(user, name, fields[name])
            if changed:
                user.save(update_fields=changed)
            self.stdout.write(f"User '{username}' already exists; its password is unchanged.")
        return user

    @staticmethod
    def _grant_alert_permission(user) -> None:
        permission = Permission.objects.get(content_type__app_label="alerts", codename="add_alert")
        user.user_permissions.add(permission)

    def _targets(self) -> list[Target]:
        with DEMO_TARGETS_CSV.open(encoding="utf-8", newline="") as stream:
            parsed = parse_targets_csv(stream)
        valid, invalid = validate_rows(parsed.rows)
        fresh, existing, repeats = split_duplicates(valid)
        bad = [*parsed.bad, *invalid, *repeats]
        if bad:
            # The demo file ships with the code; a bad row there is a bug, not user input.
            raise CommandError(f"{DEMO_TARGETS_CSV} has bad rows: {bad}")
        created = targets_create(items=[data for _, data in fresh])
        self.stdout.write(f"Targets: {len(created)} created, {len(existing)} already in the catalogue.")
        names = [row.name for row in parsed.rows]
        by_name = {t.name: t for t in Target.objects.filter(name__in=names)}
        return [by_name[name] for name in names if name in by_name]

    def _sites(self, *, owner) -> list[dict]:
        keys = []
        for data in SITES:
            site = Site.objects.filter(owner=owner, name=data["name"]).first()
            if site is None:
                serializer = SiteWriteSerializer(data=data)
                serializer.is_valid(raise_exception=True)
                site, key = site_register(owner=owner, data=dict(serializer.validated_data))
                self.stdout.write(f"Site '{site.name}' registered.")
            else:
                key = site_rotate_key(site=site)
                self.stdout.write(f"Site '{site.name}' already exists; it has a fresh key (the old one is void).")
            site_set_approval(sites=[site], approved=True)
            keys.append(
                {
                    "site_id": str(site.pk),
                    "name": site.name,
                    "api_key": key,
                    "latitude": site.latitude,
                    "longitude": site.longitude,
                    "timezone": site.timezone,
                    "filters": site.filters,
                }
            )
        return keys

    def _campaigns(self, *, targets: list[Target], coordinator) -> None:
        today = timezone.now().date()
        for spec in CAMPAIGNS:
            members = [t for t in targets if spec["members"](t)]
            campaign = Campaign.objects.filter(name=spec["name"]).first()
            if campaign is None:
                data = {k: v for k, v in spec.items() if k != "members"}
                data.update(start_date=today - timedelta(days=30), end_date=today + timedelta(days=365))
                campaign = campaign_save(campaign=None, data={**data, "targets": members}, user=coordinator)
                self.stdout.write(f"Campaign '{campaign.name}' created with {len(members)} targets.")
            else:
                added = campaign_add_targets(campaign=campaign, targets=members)
                self.stdout.write(f"Campaign '{campaign.name}' already exists; {added} target(s) added to it.")

    def _write_keys(self, path: Path, *, keys: list[dict], tokens: dict[str, str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "generated_at": timezone.now().isoformat(timespec="seconds").replace("+00:00", "Z"),
            "note": "Demo credentials made by `manage.py seed_demo`. Site keys authenticate as "
            "'Authorization: Bearer <api_key>'; user tokens as 'Authorization: Token <token>'.",
            "sites": keys,
            "user_tokens": tokens,
        }
        path.write_text(json.dumps(document, indent=2) + "\n")
        path.chmod(0o600)
