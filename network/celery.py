"""The Celery app: `celery -A network worker` and `celery -A network beat`."""

import os

from celery import Celery

from network.offline import configure_astropy_offline

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "network.settings")
configure_astropy_offline()

app = Celery("network")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
