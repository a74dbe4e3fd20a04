"""`manage.py alerts_poll [tns gaia fink alerce lasair]`: run feed pollers once, now (what the beat tasks do)."""

import json

from django.core.management.base import BaseCommand, CommandError

from alerts.pollers import POLLERS, feed_poll


class Command(BaseCommand):
    help = "Poll alert feeds once (each only if configured) and ingest what they return."

    def add_arguments(self, parser):
        parser.add_argument("feeds", nargs="*", help=f"Feeds to poll (default all): {', '.join(POLLERS)}")

    def handle(self, *args, **options):
        names = options["feeds"] or list(POLLERS)
        unknown = [n for n in names if n not in POLLERS]
        if unknown:
            raise CommandError(f"Unknown feed(s): {', '.join(unknown)}; known: {', '.join(POLLERS)}")
        for name in names:
            report = feed_poll(POLLERS[name]())
            self.stdout.write(json.dumps(report.as_dict()))
