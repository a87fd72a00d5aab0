"""One settings module: every value comes from an environment variable with an embedded default.

Defaults give a self-contained development site (SQLite, ./media, in-process jobs).
DATABASE_URL switches to PostgreSQL, CELERY_BROKER_URL to Redis with separate worker processes.
"""
import json
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", True)

# The key itself, or (when DJANGO_SECRET_KEY is unset) the file holding it: `make run` generates one once into
# local/secret_key (git-ignored) and names it here; in production either works (a secrets file keeps it out of the
# environment). A named file that is missing or empty is an error, never a silent fallback.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
_secret_key_file = os.environ.get("DJANGO_SECRET_KEY_FILE", "")
if not SECRET_KEY and _secret_key_file:
    try:
        SECRET_KEY = Path(_secret_key_file).read_text().strip()
    except OSError as exc:
        raise ImproperlyConfigured(f"DJANGO_SECRET_KEY_FILE {_secret_key_file!r} cannot be read: {exc.strerror}.") from None
    if not SECRET_KEY:
        raise ImproperlyConfigured(
            f"DJANGO_SECRET_KEY_FILE {_secret_key_file!r} is empty (delete it: `make run` generates a new one)."
        )
if not SECRET_KEY:
    if not DEBUG:
        # The development key must never reach production silently.
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set (or DJANGO_SECRET_KEY_FILE name a file holding it) when DJANGO_DEBUG is off."
        )
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",  # login lockouts (see "Login protection" below)
    "ingestion",
    "training",
    "classifier",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the body (CSRF reads POST): oversized requests are refused unread.
    "petsite.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A database restart answers 503 + Retry-After instead of 500.
    "petsite.middleware.DatabaseUnavailableMiddleware",
    # Last, as django-axes requires: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "petsite.urls"
WSGI_APPLICATION = "petsite.wsgi.application"

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

SQLITE_PATH = Path(os.environ.get("PETSITE_SQLITE_PATH", BASE_DIR / "db.sqlite3"))
DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{SQLITE_PATH}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL plus immediate transactions let the in-process job threads write beside the web requests.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("PETSITE_MEDIA_ROOT", BASE_DIR / "media"))
# The media store every web and worker host shares: a local (or network-mounted) folder by default,
# or any Django storage, e.g. PETSITE_MEDIA_STORAGE=storages.backends.s3.S3Storage with
# PETSITE_MEDIA_STORAGE_OPTIONS='{"bucket_name": "petsite"}' (pip install django-storages[s3]).
STORAGES = {
    "default": {
        "BACKEND": os.environ.get("PETSITE_MEDIA_STORAGE", "django.core.files.storage.FileSystemStorage"),
        "OPTIONS": json.loads(os.environ.get("PETSITE_MEDIA_STORAGE_OPTIONS", "{}")),
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Uploads: refuse oversized requests before they are read whole.
PETSITE_MAX_UPLOAD_BYTES = env_int("PETSITE_MAX_UPLOAD_BYTES", 10 * 1024 * 1024)
PETSITE_MAX_IMAGE_PIXELS = env_int("PETSITE_MAX_IMAGE_PIXELS", 40_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = PETSITE_MAX_UPLOAD_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# The model served when no ModelVersion is active in the database (also what the CLI uses without a database).
PETSITE_MODEL_PATH = Path(os.environ.get("PETSITE_MODEL_PATH", BASE_DIR / "training" / "default_model" / "model.keras"))
PETSITE_PAGE_SIZE = env_int("PETSITE_PAGE_SIZE", 24)

# Celery: a broker URL means real workers; without one, jobs run on an in-process thread (see petsite/jobs.py).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # a worker keeps reconnecting for as long as the broker is away
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Unacked tasks come back after this long (a worker killed outright); it must exceed the longest task on any
    # queue, training included, or a running task is delivered twice. The pending sweeper is the fast path.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 6 * 3600),
    # Never hang a web request on a dead or blackholed broker: fail fast, the sweeper re-enqueues later.
    "socket_connect_timeout": 2,
    "socket_timeout": 10,
    "retry_on_timeout": True,
    "health_check_interval": 25,
    # Used when a producer (the web process) has to (re)connect to publish: give up quickly.
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
# A task cut off by a lost broker connection was never acknowledged: cancel it, it is delivered again.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_WORKER_SEND_TASK_EVENTS = False
# Celery's Django fixup closes the database connections before and after every task unless this is set, so each task
# would open a new PostgreSQL connection (a server process forked, authentication): a large part of a task's CPU.
# They are kept for this many tasks instead; petsite/celery.py closes broken or CONN_MAX_AGE-old ones around each
# task, as Django does around each request.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000)
# Classification is seconds at most; a stuck one is cut off and retried (the sweeper) instead of holding a worker.
CELERY_TASK_ANNOTATIONS = {
    "classifier.classify_prediction": {
        "soft_time_limit": env_int("PETSITE_CLASSIFY_SOFT_TIME_LIMIT", 60),
        "time_limit": env_int("PETSITE_CLASSIFY_TIME_LIMIT", 90),
    },
    "classifier.requeue_stale_pending": {"soft_time_limit": 60, "time_limit": 90},
}
CELERY_TASK_ROUTES = {
    "training.*": {"queue": "jobs"},
    "ingestion.*": {"queue": "jobs"},
}
CELERY_TASK_DEFAULT_QUEUE = "celery"
# A pending upload whose classification is lost is sent again after this long: its worker stopped renewing its
# claim (killed mid-task), or its message is not in the queue (lost, or in a dead worker's prefetch). Rows waiting
# in a backlog are never sent again. See classifier.services.lost_pending_filter.
PETSITE_PENDING_SWEEP_SECONDS = env_int("PETSITE_PENDING_SWEEP_SECONDS", 20)
# How often the sweeper runs (Celery beat with a broker, a daemon thread in the web process without one); 0 = never.
PETSITE_PENDING_SWEEP_INTERVAL = env_int("PETSITE_PENDING_SWEEP_INTERVAL", 10)

# Reliability and security -----------------------------------------------------------------------------------------
# A cache shared by all processes when Redis is configured (rate limits must count across gunicorn workers).
REDIS_CACHE_URL = os.environ.get("REDIS_CACHE_URL", "") or (CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else "")
if REDIS_CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_CACHE_URL,
            "KEY_PREFIX": "petsite",
            # A dead cache must cost a request milliseconds, not seconds (the rate limiter then fails open).
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "petsite"}}

# Per-client rate limits, "COUNT/PERIOD" with PERIOD s, m, h or d (e.g. 30/m, 10/5s); 0 turns one off.
# On by default whenever DEBUG is off; off by default in development (set them to try them).
PETSITE_RATELIMIT_UPLOAD = os.environ.get("PETSITE_RATELIMIT_UPLOAD", "0" if DEBUG else "30/m")
PETSITE_RATELIMIT_API = os.environ.get("PETSITE_RATELIMIT_API", "0" if DEBUG else "600/m")
# Behind a reverse proxy that sets X-Forwarded-For, the client is the last address it appended; off by default.
PETSITE_RATELIMIT_TRUST_X_FORWARDED_FOR = env_bool("PETSITE_RATELIMIT_TRUST_X_FORWARDED_FOR", False)

# Request size limits: a request whose Content-Length is over this is answered 413 before its body is read.
PETSITE_MAX_REQUEST_BYTES = env_int("PETSITE_MAX_REQUEST_BYTES", PETSITE_MAX_UPLOAD_BYTES + 256 * 1024)
DATA_UPLOAD_MAX_NUMBER_FILES = 5
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200
# The first handler stops reading an upload as soon as it passes the limit (chunked bodies, lying clients).
FILE_UPLOAD_HANDLERS = [
    "classifier.uploads.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
FILE_UPLOAD_PERMISSIONS = 0o644

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# Login protection (django-axes): failed logins are counted per account and per client, each on its own; either
# reaching the limit locks it out for the cool-off time, in DEBUG too. Staff unlock in the admin (Axes > Access
# attempts: delete the rows) or with `manage.py axes_reset_username NAME` / `axes_reset_ip ADDRESS`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out login before the password is checked
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("PETSITE_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("PETSITE_LOGIN_LOCKOUT_MINUTES", 30))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The same client address as the rate limits (X-Forwarded-For only when PETSITE_RATELIMIT_TRUST_X_FORWARDED_FOR).
AXES_CLIENT_IP_CALLABLE = "petsite.ratelimit.client_address"
# No "AXES: BEGIN" banner on every manage.py command; failures and lockouts are still logged.
AXES_VERBOSE = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("PETSITE_LOG_LEVEL", "INFO")},
}

if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    # Session and CSRF cookies only over HTTPS; `make run` turns this off to serve plain http://127.0.0.1.
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
    # Trust X-Forwarded-Proto only behind a proxy that sets it (the usual TLS-terminating set-up).
    if env_bool("DJANGO_BEHIND_TLS_PROXY", True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Ingestion -------------------------------------------------------------------------------------------------------
# Scraping (ingestion/scraping) and the dataset build (ingestion/dataset.py).
# Hosts the scraper may fetch from even though they resolve to loopback/private addresses (tests, a local mirror).
PETSITE_SCRAPE_ALLOWED_HOSTS = env_list("PETSITE_SCRAPE_ALLOWED_HOSTS", [])
PETSITE_SCRAPE_DELAY_SECONDS = float(os.environ.get("PETSITE_SCRAPE_DELAY_SECONDS", "1.0"))
PETSITE_SCRAPE_TIMEOUT_SECONDS = float(os.environ.get("PETSITE_SCRAPE_TIMEOUT_SECONDS", "20"))
PETSITE_SCRAPE_RETRIES = env_int("PETSITE_SCRAPE_RETRIES", 2)
PETSITE_SCRAPE_BACKOFF_SECONDS = float(os.environ.get("PETSITE_SCRAPE_BACKOFF_SECONDS", "2.0"))
PETSITE_SCRAPE_MAX_BYTES = env_int("PETSITE_SCRAPE_MAX_BYTES", 15 * 1024 * 1024)
PETSITE_SCRAPE_MAX_REDIRECTS = env_int("PETSITE_SCRAPE_MAX_REDIRECTS", 5)
PETSITE_SCRAPE_MAX_PAGES = env_int("PETSITE_SCRAPE_MAX_PAGES", 50)
PETSITE_SCRAPE_MIN_SIDE = env_int("PETSITE_SCRAPE_MIN_SIDE", 100)
# The scraper asks for the largest size of a photo whose long side is within this (0: the largest there is).
PETSITE_SCRAPE_MAX_SIDE = env_int("PETSITE_SCRAPE_MAX_SIDE", 1024)
# A running scrape job whose heartbeat is older than this lost its worker: it may be started again (resumed).
PETSITE_SCRAPE_STALE_SECONDS = env_int("PETSITE_SCRAPE_STALE_SECONDS", 600)
PETSITE_SCRAPE_USER_AGENT = os.environ.get(
    "PETSITE_SCRAPE_USER_AGENT", "Mozilla/5.0 (compatible; petsite-scraper/1.0; pet photo dataset builder)"
)
PETSITE_FLICKR_BASE_URL = os.environ.get("PETSITE_FLICKR_BASE_URL", "https://www.flickr.com")
PETSITE_IMGUR_BASE_URL = os.environ.get("PETSITE_IMGUR_BASE_URL", "https://imgur.com")
# Two photos whose perceptual hashes differ in at most this many of 64 bits are near duplicates.
PETSITE_NEAR_DUPLICATE_DISTANCE = env_int("PETSITE_NEAR_DUPLICATE_DISTANCE", 6)
# Where rebuild_dataset gets photos besides its --source folders: dotted paths of functions returning
# (image path, label) pairs; their labels win over a folder's. Ingestion imports these by name (it never imports
# the apps above it), and rebuild_dataset prints each with how many photos it gave.
PETSITE_DATASET_EXTRA_SOURCES = [
    "classifier.selectors.reviewed_photos_for_dataset",  # reviewed predictions
    "ingestion.selectors.accepted_scraped_photos_for_dataset",  # scraped photos staff accepted
]
# Scores each scraped photo with the live model when it is stored (predicted class, confidence, pet score): the dotted
# path of a function (image bytes -> {"label", "confidence", "pet_score", "model_version"}); "" turns scoring off.
PETSITE_SCRAPED_PHOTO_SCORER = os.environ.get("PETSITE_SCRAPED_PHOTO_SCORER", "classifier.inference.score_photo")
# Dataset versions: built into <root>/<name>/ (git-ignored by default), from these base folders (<folder>/<class>/*)
# plus the extra sources above; a build fails when a class keeps fewer photos than the minimum.
PETSITE_DATASETS_ROOT = Path(os.environ.get("PETSITE_DATASETS_ROOT", BASE_DIR / "data" / "datasets"))
# The default holds the pets at home too (where present): the shipped model trained on them, and a retrain without them
# would be compared and promoted on a test split that has none of the photos users take.
PETSITE_DATASET_BASE_FOLDERS = env_list("PETSITE_DATASET_BASE_FOLDERS", [
    str(BASE_DIR.parent / "shared" / "data" / "pets"),
    *[str(home) for home in [BASE_DIR.parent / "shared" / "data" / "pets-home"] if home.is_dir()],
])
PETSITE_DATASET_MIN_PER_CLASS = env_int("PETSITE_DATASET_MIN_PER_CLASS", 10)
# A build that reports no progress for this long lost its worker: it is marked interrupted (staff may resume it) and
# no longer blocks new builds; a retrain building its dataset version too.
PETSITE_DATASET_STALE_SECONDS = env_int("PETSITE_DATASET_STALE_SECONDS", 600)
# Functions (dotted paths) saying why a dataset version is in use ("" or None: not by them); one in use is not deleted.
PETSITE_DATASET_VERSION_USERS = ["training.selectors.dataset_version_use"]
# End of Ingestion ------------------------------------------------------------------------------------------------

# Training ---------------------------------------------------------------------------------------
# Owned by the training app; each setting is read from the environment variable of the same name. The defaults live here only.
# Dataset folder (train/<class>/, test/<class>/, manifest.json) that the train, evaluate and add_class_maps commands
# default to; admin runs always name a dataset version instead
# (`manage.py rebuild_dataset --source ../shared/data/pets --dest data/pets` writes it; /data/ is git-ignored).
PETSITE_TRAINING_DATA_DIR = Path(os.environ.get("PETSITE_TRAINING_DATA_DIR", BASE_DIR / "data" / "pets"))
# Non-pet photo folders (<kind>/ subfolders: other things, animals owners keep that are none of the pets), comma
# separated: the open-set head learns each kind, and the unknown threshold is fitted on them; "" turns it off.
PETSITE_TRAINING_OTHER_DIRS = [
    part for part in os.environ.get(
        "PETSITE_TRAINING_OTHER_DIRS",
        f"{BASE_DIR.parent / 'shared' / 'data' / 'other'},{BASE_DIR.parent / 'shared' / 'data' / 'nearmiss'}",
    ).split(",") if part.strip()
]
# Abstract pictures (flat colours, gradients, blurred colour blobs, noise: ingestion.synthetic) the default recipe
# adds beside the non-pet folders as one more kind of non-pet photo, written once under the training cache; 0: none.
PETSITE_TRAINING_ABSTRACT_PICTURES = env_int("PETSITE_TRAINING_ABSTRACT_PICTURES", 150)
# Cached backbone features (reused across runs on the same files); default MEDIA_ROOT/training-cache.
PETSITE_TRAINING_CACHE_DIR = os.environ.get("PETSITE_TRAINING_CACHE_DIR", "")
# A run that reports no progress for this long lost its worker: it is marked interrupted (staff may resume it from the
# step that did not finish), so a dead worker does not block new runs.
PETSITE_TRAINING_STALE_SECONDS = env_int("PETSITE_TRAINING_STALE_SECONDS", 1800)
# A fixed benchmark folder (<class>/*, photos never used for training) every comparison adds to the dataset version's
# test split; "" (default): the test split only.
PETSITE_BENCHMARK_DIR = os.environ.get("PETSITE_BENCHMARK_DIR", "")
# Promotion rules (training.promotion): a candidate goes live by itself only if its accuracy is at most this much lower
# (0: not lower), no class's recall is lower by more than this (0.01: 1 point), and pets answered "not a pet" are at
# most this much more frequent (0: not higher) than with the live model; otherwise it waits for staff.
PETSITE_PROMOTION_MAX_ACCURACY_DROP = float(os.environ.get("PETSITE_PROMOTION_MAX_ACCURACY_DROP", "0"))
PETSITE_PROMOTION_MAX_RECALL_DROP = float(os.environ.get("PETSITE_PROMOTION_MAX_RECALL_DROP", "0.01"))
PETSITE_PROMOTION_MAX_PET_UNKNOWN_RISE = float(os.environ.get("PETSITE_PROMOTION_MAX_PET_UNKNOWN_RISE", "0"))
# "Retrain now" on a schedule (Celery beat): a crontab "minute hour day-of-month month day-of-week", e.g. "0 3 * * 1"
# for Mondays at 03:00; "" (default): never. Options for its training (JSON, e.g. {"input_size": 224}).
PETSITE_RETRAIN_SCHEDULE = os.environ.get("PETSITE_RETRAIN_SCHEDULE", "")
PETSITE_RETRAIN_OPTIONS = json.loads(os.environ.get("PETSITE_RETRAIN_OPTIONS", "{}"))
# End of training ---------------------------------------------------------------------------------

# Serving ----------------------------------------------------------------------------------------
# auto: the verified int8 LiteRT copy beside the model file when there is one (manage.py export_litert --int8), else
# the verified float LiteRT copy, else Keras; keras / litert / litert-int8 force one.
PETSITE_INFERENCE_BACKEND = os.environ.get("PETSITE_INFERENCE_BACKEND", "auto")
# Threads per inference call; 0 (default) sizes them from the cores and the worker's concurrency
# (cores // pool processes, at least 1: see classifier.inference), any other number forces it.
PETSITE_INFERENCE_THREADS = env_int("PETSITE_INFERENCE_THREADS", 0)
