"""Settings, read from environment variables with working defaults.

Every knob an operator may turn is an environment variable (see README "Settings"):
``DATABASE_URL``, ``REDIS_URL``, ``DAGS_FOLDER``, ``LOGS_FOLDER``, ``SECRET_KEY``, ``DEBUG``,
``ALLOWED_HOSTS`` and the ``ORCHESTRATOR_*`` knobs below.
"""

import datetime as dt
import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _development_key(filename: str, generate: Callable[[], str]) -> str:
    """Return a key kept in a git-ignored file, generated on first use. The file is created
    exclusively, so processes starting together (a scheduler and its workers) agree on one key."""
    path = BASE_DIR / filename
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = generate()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()  # another process won the race: its key is the one
    except OSError:
        return key  # a read-only checkout: this process's own key
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


SECRET_KEY = os.environ.get("SECRET_KEY") or _development_key(".secret_key", lambda: secrets.token_urlsafe(50))
# Connections' passwords and extras are encrypted with it (Airflow's fernet_key). Several keys,
# comma-separated: the first encrypts, all decrypt (``rotate-fernet-key`` re-encrypts with the first).
FERNET_KEY = os.environ.get("FERNET_KEY") or _development_key(".fernet_key", _fernet_key)
DEBUG = _env_bool("DEBUG", False)
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()
]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

# Cookies: never readable by scripts (no page script needs them), sent on top-level links only.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts only from this site's own files, so text an
# author or user wrote (doc_md, conf, XCom, logs) can never run even if it slipped through the
# escaping. Inline style attributes stay allowed (the graph's SVG and the state colours use them).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# The production profile (docs/production.md): ORCHESTRATOR_PRODUCTION=1, served over HTTPS.
# `manage.py check --deploy` is clean with it (a test holds that).
PRODUCTION = _env_bool("ORCHESTRATOR_PRODUCTION", False)
if PRODUCTION:
    from django.core.exceptions import ImproperlyConfigured

    if not os.environ.get("SECRET_KEY"):
        raise ImproperlyConfigured("ORCHESTRATOR_PRODUCTION=1 needs SECRET_KEY in the environment")
    if not os.environ.get("FERNET_KEY"):
        raise ImproperlyConfigured("ORCHESTRATOR_PRODUCTION=1 needs FERNET_KEY in the environment")
    if DEBUG:
        raise ImproperlyConfigured("ORCHESTRATOR_PRODUCTION=1 cannot run with DEBUG on")
    SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = _env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = _env_bool("SECURE_HSTS_PRELOAD", True)
    if _env_bool("SECURE_PROXY_SSL", False):
        # Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips a client's own).
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_filters",
    "django_rq",
    "dags_app",
    "runs_app",
    "api_app",
    "ninja",
    # Login throttling: failed logins per username and IP are recorded; too many lock them out.
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # PostgreSQL refuses NUL bytes in text: such a request is a 400, not a 500.
    "orchestrator_site.middleware.RejectNulBytesMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The user's chosen time zone (from the session: no query) for every time a page shows.
    "orchestrator_site.timezones.TimezoneMiddleware",
    # Every page needs a login unless its view says otherwise (@login_not_required).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a lockout into its page (429).
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username+IP before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# After AXES_FAILURE_LIMIT failed logins of one username from one IP address, that pair is
# locked out for AXES_COOLOFF_MINUTES (other users and other addresses are not). Unlock early
# with `manage.py axes_reset_username <name>` (or axes_reset).
AXES_FAILURE_LIMIT = _env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=_env_float("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The lockout answer: the login page's template, or a problem JSON for the REST API's token route.
AXES_LOCKOUT_CALLABLE = "orchestrator_site.accounts.lockout_response"
AXES_VERBOSE = False

# The REST API's tokens (POST /auth/token): signed with API_JWT_SECRET (by default derived from
# SECRET_KEY), valid API_JWT_EXPIRATION seconds (Airflow's [api_auth] jwt_secret / jwt_expiration_time).
API_JWT_SECRET = os.environ.get("API_JWT_SECRET") or hashlib.sha512(f"api-jwt:{SECRET_KEY}".encode()).hexdigest()
API_JWT_EXPIRATION = _env_int("API_JWT_EXPIRATION", 3600)
# Django ninja: no page-number pagination of its own (the API pages with Airflow's limit/offset).
NINJA_PAGINATION_PER_PAGE = 50

ROOT_URLCONF = "orchestrator_site.urls"

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
                "orchestrator_site.context_processors.orchestrator",
            ],
        },
    },
]

WSGI_APPLICATION = "orchestrator_site.wsgi.application"

# SQLite is the embedded default. WAL lets readers run beside a writer; IMMEDIATE takes the
# write lock at BEGIN so two writers queue on the busy timeout instead of failing with
# "database is locked" half-way through a transaction (measured in SETUP_FACTS.md).
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    # Seconds a writer waits for the lock before "database is locked" (the scheduler's loop then
    # logs one line and retries; tests shorten it).
    "timeout": float(os.environ.get("ORCHESTRATOR_SQLITE_TIMEOUT") or 20),
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = dict(SQLITE_OPTIONS)
    # A file (not memory) so worker subprocesses started by tests see the test database.
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_PATH") or str(BASE_DIR / ".test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 4}},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "build" / "static")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the finders too, so a fresh clone works before collectstatic.
WHITENOISE_USE_FINDERS = True

# Mail, for EmailNotifier (and Django's own mails): the console backend by default, which writes
# a notifier's mail into its callback's log. Set EMAIL_BACKEND to
# django.core.mail.backends.smtp.EmailBackend and EMAIL_HOST... to send for real.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = _env_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "orchestrator@localhost")

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
RQ_QUEUES = {
    name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": -1, "SERIALIZER": "rq.serializers.JSONSerializer"}
    for name in os.environ.get("ORCHESTRATOR_QUEUES", "default").split(",")
    if name
}
RQ_SHOW_ADMIN_LINK = True
# Both `manage.py rqworker` and `rq worker -w runs_app.worker.OrchestratorWorker` use these: the
# JSON serializer and a job class that runs nothing but the task runner (see runs_app/worker.py).
RQ = {
    "WORKER_CLASS": "runs_app.worker.OrchestratorWorker",
    "JOB_CLASS": "runs_app.worker.OrchestratorJob",
}

# The orchestrator's own knobs.
DAGS_FOLDER = Path(os.environ.get("DAGS_FOLDER") or BASE_DIR / "dags").resolve()
LOGS_FOLDER = Path(os.environ.get("LOGS_FOLDER") or BASE_DIR / "logs").resolve()
ORCHESTRATOR = {
    # Airflow's dag_file_processor_timeout is 50 s; a DAG file should import in well under 1 s.
    "PARSE_TIMEOUT": _env_float("ORCHESTRATOR_PARSE_TIMEOUT", 30.0),
    # Seconds between re-scans of the DAG folder (Airflow: min_file_process_interval = 30).
    "PARSE_INTERVAL": _env_float("ORCHESTRATOR_PARSE_INTERVAL", 30.0),
    # Child processes that import DAG files (Airflow: parsing_processes = 2).
    "PARSE_PROCESSES": _env_int("ORCHESTRATOR_PARSE_PROCESSES", 2),
    # Airflow's scheduler_zombie_task_threshold is 300 s.
    "ZOMBIE_THRESHOLD": _env_float("ORCHESTRATOR_ZOMBIE_THRESHOLD", 300.0),
    "HEARTBEAT_INTERVAL": _env_float("ORCHESTRATOR_HEARTBEAT_INTERVAL", 5.0),
    # Airflow's default_pool has 128 slots.
    "DEFAULT_POOL_SLOTS": _env_int("ORCHESTRATOR_DEFAULT_POOL_SLOTS", 128),
    # Airflow: dags_are_paused_at_creation = True.
    "DAGS_ARE_PAUSED_AT_CREATION": _env_bool("ORCHESTRATOR_DAGS_ARE_PAUSED_AT_CREATION", True),
    # Seconds after which a scheduler without a heartbeat counts as not running (Airflow: 30).
    "SCHEDULER_HEALTH_THRESHOLD": _env_float("ORCHESTRATOR_SCHEDULER_HEALTH_THRESHOLD", 30.0),
    # Seconds a try may stay queued with nobody picking it up (0: never): it is enqueued again
    # TASK_QUEUED_RETRIES times, then failed with the reason (Airflow: task_queued_timeout = 600,
    # num_stuck_in_queued_retries = 2).
    "TASK_QUEUED_TIMEOUT": _env_float("ORCHESTRATOR_TASK_QUEUED_TIMEOUT", 600.0),
    "TASK_QUEUED_RETRIES": int(_env_float("ORCHESTRATOR_TASK_QUEUED_RETRIES", 2)),
    # Cap, in MiB, on the data size of each task's process (its DAG file's import included);
    # 0: none. A task that allocates past it fails its try with a MemoryError.
    # Largest run conf accepted (JSON bytes), from the CLI, the trigger form or the API.
    "MAX_CONF_BYTES": _env_int("ORCHESTRATOR_MAX_CONF_BYTES", 1024 * 1024),
    "TASK_MEMORY_LIMIT_MB": _env_float("ORCHESTRATOR_TASK_MEMORY_LIMIT_MB", 0.0),
    # RQ's own job timeout for a task without execution_timeout, in seconds: never unlimited, so a
    # wedged worker is freed eventually (a task's execution_timeout, when set, wins).
    "MAX_TASK_RUNTIME": _env_float("ORCHESTRATOR_MAX_TASK_RUNTIME", 7 * 24 * 3600.0),
    # A task's callbacks (on_success_callback...) run in a child after the try's state is
    # recorded; a callback that hangs is killed after this many seconds (logged to the try's log).
    "CALLBACK_TIMEOUT": _env_float("ORCHESTRATOR_CALLBACK_TIMEOUT", 300.0),
    # The most instances one mapped task may have (Airflow: [core] max_map_length = 1024). A
    # task pushing more values for a mapped task fails; a DAG file mapping over more literal
    # values is an import error.
    "MAX_MAP_LENGTH": _env_int("ORCHESTRATOR_MAX_MAP_LENGTH", 1024),
    # Where WebhookNotifier posts when the DAG file gives no url= (e.g. a chat incoming webhook).
    "WEBHOOK_URL": os.environ.get("ORCHESTRATOR_WEBHOOK_URL", ""),
    # A run or DAG whose scheduling raises is parked for this many seconds, doubling per failure
    # up to SCHEDULING_BACKOFF_MAX, while every other run keeps moving.
    "SCHEDULING_BACKOFF": _env_float("ORCHESTRATOR_SCHEDULING_BACKOFF", 5.0),
    "SCHEDULING_BACKOFF_MAX": _env_float("ORCHESTRATOR_SCHEDULING_BACKOFF_MAX", 600.0),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "[%(asctime)s] {%(name)s} %(levelname)s - %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
