"""Settings for the telescope network server.

Everything comes from the environment (or a `.env` file beside manage.py; the environment wins), with defaults
that run a fresh clone: SQLite, images on the local filesystem, an embedded Celery broker in `var/`.
"""

import secrets
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def _local_secret_key() -> str:
    """A random key generated once and kept in a git-ignored file, so sessions survive restarts."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or _local_secret_key()
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = SECURE_SSL_REDIRECT
CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000 if SECURE_SSL_REDIRECT else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_SSL_REDIRECT
SECURE_HSTS_PRELOAD = SECURE_SSL_REDIRECT
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "sites",
    "targets",
    "campaigns",
    "observations",
    "alerts",
    "pipeline",
    "network",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "network.middleware.ApiBodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "network.urls"
WSGI_APPLICATION = "network.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web server, worker and beat share one SQLite file: wait for locks instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))

# Images: the local filesystem unless an S3-compatible bucket is configured.
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default=None)
    AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default=None)
    AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default=None)
    AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default=None)
    # SigV4 presigned URLs: AWS has retired SigV2 in newer regions.
    AWS_S3_SIGNATURE_VERSION = env.str("AWS_S3_SIGNATURE_VERSION", default="s3v4")
    AWS_DEFAULT_ACL = None
    AWS_QUERYSTRING_AUTH = True
    AWS_S3_FILE_OVERWRITE = False
    _default_storage = {"BACKEND": "storages.backends.s3.S3Storage"}
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Request size limits: JSON bodies (a 10,000-target list fits) and FITS uploads (a 60-megapixel 16-bit frame fits).
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=20 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
IMAGE_MAX_BYTES = env.int("IMAGE_MAX_BYTES", default=200 * 1024 * 1024)
FILE_UPLOAD_TEMP_DIR = env.str("FILE_UPLOAD_TEMP_DIR", default=None)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "sites.auth.SiteKeyAuthentication",
        "network.auth.PersonalTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["network.parsers.SafeJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "network.pagination.CursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "network.errors.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="300/min"),
        "user": env.str("API_THROTTLE_USER", default="20000/min"),
    },
    "PAGE_SIZE": 100,
    # `format` is the light curve's export format (json, csv, aavso), not DRF's renderer override.
    "URL_FORMAT_OVERRIDE": None,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Telescope network API",
    "DESCRIPTION": "Coordinates a distributed network of telescopes: sites, targets, observations, alerts.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "SiteStateEnum": "sites.models.Site.State",
        "PipelineStateEnum": "observations.models.Observation.PipelineState",
        "CampaignKindEnum": "campaigns.models.Campaign.Kind",
        "CalibrationKindEnum": "pipeline.models.CalibrationFrame.Kind",
    },
}

# Celery: an embedded broker (kombu's SQLAlchemy transport on a SQLite file) unless a real one is configured.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = 600
CELERY_TASK_SOFT_TIME_LIMIT = 540
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Periodic work; django-celery-beat copies this into its tables, where coordinators can change it in the admin.
CELERY_BEAT_SCHEDULE = {
    "pipeline-sweep": {"task": "pipeline.tasks.pipeline_sweep_task", "schedule": 300.0},
    "network-plan": {"task": "campaigns.tasks.network_plan_build_task", "schedule": 180.0},
    "site-reliability": {"task": "campaigns.tasks.site_reliability_update_task", "schedule": 900.0},
    # Alert pollers: each returns at once unless its feed is configured below.
    "alerts-poll-tns": {"task": "alerts.tasks.alerts_poll_tns_task", "schedule": 300.0},
    "alerts-poll-gaia": {"task": "alerts.tasks.alerts_poll_gaia_task", "schedule": 3600.0},
    "alerts-poll-fink": {"task": "alerts.tasks.alerts_poll_fink_task", "schedule": 600.0},
    "alerts-poll-alerce": {"task": "alerts.tasks.alerts_poll_alerce_task", "schedule": 600.0},
    "alerts-poll-lasair": {"task": "alerts.tasks.alerts_poll_lasair_task", "schedule": 600.0},
}

# The network's own rules.
NETWORK_VERSION = "0.1.0"
SITE_HEARTBEAT_MAX_AGE_S = env.int("SITE_HEARTBEAT_MAX_AGE_S", default=15 * 60)
SITE_NEXT_POLL_S = env.int("SITE_NEXT_POLL_S", default=60)
SITES_REQUIRE_APPROVAL = env.bool("SITES_REQUIRE_APPROVAL", default=False)

# Alert feeds: each poller stays off until its settings are given (the GCN Kafka consumer is `manage.py gcn_kafka`).
ALERTS_TNS_API_KEY = env.str("ALERTS_TNS_API_KEY", default="")
ALERTS_TNS_BOT_ID = env.str("ALERTS_TNS_BOT_ID", default="")
ALERTS_TNS_BOT_NAME = env.str("ALERTS_TNS_BOT_NAME", default="")
ALERTS_TNS_URL = env.str("ALERTS_TNS_URL", default="https://www.wis-tns.org/api")
ALERTS_GAIA_URL = env.str("ALERTS_GAIA_URL", default="")
ALERTS_FINK_URL = env.str("ALERTS_FINK_URL", default="")
ALERTS_FINK_CLASSES = env.str("ALERTS_FINK_CLASSES", default="Early SN Ia candidate,SN candidate,Kilonova candidate")
ALERTS_ALERCE_URL = env.str("ALERTS_ALERCE_URL", default="")
ALERTS_ALERCE_CLASSES = env.str("ALERTS_ALERCE_CLASSES", default="SNIa,SNIbc,SNII,SLSN")
ALERTS_LASAIR_TOKEN = env.str("ALERTS_LASAIR_TOKEN", default="")
ALERTS_LASAIR_STREAM = env.str("ALERTS_LASAIR_STREAM", default="")
ALERTS_LASAIR_URL = env.str("ALERTS_LASAIR_URL", default="https://lasair-ztf.lsst.ac.uk/api")
GCN_KAFKA_CLIENT_ID = env.str("GCN_KAFKA_CLIENT_ID", default="")
GCN_KAFKA_CLIENT_SECRET = env.str("GCN_KAFKA_CLIENT_SECRET", default="")
GCN_KAFKA_TOPICS = env.str("GCN_KAFKA_TOPICS", default="")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
