"""
Settings, read from the environment with defaults for a developer's machine.

Production sets at least DEBUG=0 (the default), SECRET_KEY, ALLOWED_HOSTS and
DATABASE_URL; everything else has a sensible default. See README.md for the list.
"""

import os
import urllib.parse
import zoneinfo
from pathlib import Path

import environ
import pghistory
import phonenumbers
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from clinic import storage_settings

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
# With DEBUG on, a 404 or a crash still shows the clinic's own page (the traceback goes to the
# console); DEBUG_ERROR_PAGES=1 shows Django's technical debug pages instead.
DEBUG_ERROR_PAGES = env.bool("DEBUG_ERROR_PAGES", default=False)

# A development key is only acceptable while DEBUG is on; production must bring its own.
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY in the environment "
            "(or DEBUG=1 on a development machine)."
        )
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "accounts.admin_site.ClinicAdminConfig",  # the admin, for clinic admins only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "crispy_forms",
    "crispy_bootstrap5",
    "axes",
    "csp",
    # Staff's second factor: authenticator apps (TOTP) and one-time recovery codes.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "pgtrigger",
    "pghistory",
    "accounts",
    "patients",
    "treatments",
    "consents",
    "sites",
    "reminders",
    "portal",
    "ui",
    "audit",
    "frontdesk",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The Content-Security-Policy header on every response (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    # Uploaded files in an S3-compatible bucket: img-src also allows its origin, where the
    # photo views redirect to short-lived signed URLs (treatments/files.py).
    "clinic.middleware.StorageOriginInCspMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # First of all that may read a body (the NUL check reads POST): too large is refused from
    # its Content-Length alone.
    "clinic.uploads.RequestSizeLimitMiddleware",
    # Before anything reads the database with what a request carries.
    "clinic.middleware.RefuseNulBytesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language of a page nobody is signed in to (the portal's welcome, sign-in) follows
    # the browser's Accept-Language; clinic.middleware.ReaderLanguageMiddleware below puts
    # signed-in staff back to English, and the portal's pages use the patient's own language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): the session is bound to a second-factor device.
    # (django_otp.middleware.OTPMiddleware, its device read compiled once: accounts/prepared.py)
    "accounts.middleware.ClinicOTPMiddleware",
    "clinic.middleware.ReaderLanguageMiddleware",
    # Every database change made while handling the request carries who, from where (the
    # history triggers read it, audit/middleware.py).
    "audit.middleware.HistoryContextMiddleware",
    "clinic.middleware.NoStoreForSignedInMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # With DEBUG on, our 404/500 pages rather than Django's technical ones (clinic.error_pages).
    "clinic.error_pages.OwnErrorPagesInDebugMiddleware",
    "accounts.middleware.StaffIdleTimeoutMiddleware",
    # After the idle timeout (a stale session is signed out first): no page opens until the
    # second factor is given, where the user has one or their role needs one.
    "accounts.middleware.TwoFactorMiddleware",
    # A session handed to a patient at the desk opens only the signing page until the staff
    # member unlocks it with their password (frontdesk/middleware.py).
    "frontdesk.middleware.DeskSigningLockMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "clinic.urls"

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
                "accounts.context_processors.clinic",
                "ui.csrf.csrf",  # one CSRF token a response (ui/csrf.py)
            ],
        },
    },
    {
        # Plain-text messages (email text parts, SMS): no HTML escaping.
        "NAME": "text",
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {"autoescape": False},
    },
]
# Django's form renderer, with <input> and <textarea> written in Python (ui.forms).
FORM_RENDERER = "ui.forms.FormRenderer"

WSGI_APPLICATION = "clinic.wsgi.application"

# --- Database -----------------------------------------------------------------------------
# No DATABASE_URL: an SQLite file, the embedded default for trying the app out.
# PostgreSQL (postgres://...) is what a clinic runs and what the tests use; only there do the
# exclusion constraints of the protocol rules exist.
DATABASES = {
    "default": environ.Env.db_url_config(
        env.str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    ),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock when a transaction starts, so the booking checks in
    # treatments.services cannot race on SQLite (it has no exclusion constraints).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # No JIT compilation: at 1,000,000 patients the planner's cost estimates pass
    # jit_above_cost on ordinary page queries, and compiling them took 30-100 ms a query,
    # more than running them (EXPLAIN ANALYZE in `make bench`). Pages run short queries.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Time ---------------------------------------------------------------------------------
# Instants are stored in UTC. Calendar arithmetic (six months on, the NSAID window, follow-up
# dates) uses the clinic's local date; what a patient reads uses the patient's own zone.
USE_TZ = True
CLINIC_TIME_ZONE = env.str("CLINIC_TIME_ZONE", default="Europe/Berlin")
try:
    zoneinfo.ZoneInfo(CLINIC_TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
    raise ImproperlyConfigured(f"CLINIC_TIME_ZONE={CLINIC_TIME_ZONE!r} is not a time zone") from exc
# Forms and the admin show and read times in the clinic's zone.
TIME_ZONE = CLINIC_TIME_ZONE
LANGUAGE_CODE = "en-gb"
USE_I18N = True
# The languages a patient reads (Patient.language): the portal, emails, SMS and .ics are in
# the patient's one; staff pages stay English. Translations live in locale/<code>/ (.po in git,
# .mo compiled by `make install`/`make test`/`make run`). README, "Languages".
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("tr", "Türkçe")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# "en" keeps the British formats (day before month) LANGUAGE_CODE had: clinic/formats/en.
FORMAT_MODULE_PATH = ["clinic.formats"]

# --- The clinic, as patients read it in messages ------------------------------------------
CLINIC_NAME = env.str("CLINIC_NAME", default="Exosome Hair Clinic")
CLINIC_ADDRESS = env.str("CLINIC_ADDRESS", default="12 Example Street, 10115 Berlin")
CLINIC_PHONE = env.str("CLINIC_PHONE", default="+49 30 1234567")
# The clinic's country (ISO 3166 alpha-2): a new patient's default `country`, in which a phone
# number typed without a country code is read ("0170 5550101" in DE is +491705550101).
# CLINIC_PHONE_REGION is its older name, still read.
CLINIC_COUNTRY = env.str("CLINIC_COUNTRY", default=env.str("CLINIC_PHONE_REGION", default="DE"))
CLINIC_COUNTRY = CLINIC_COUNTRY.upper()
if CLINIC_COUNTRY not in phonenumbers.SUPPORTED_REGIONS:
    raise ImproperlyConfigured(f"CLINIC_COUNTRY={CLINIC_COUNTRY!r} is not a country code")
CLINIC_PHONE_REGION = CLINIC_COUNTRY
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
# The address the outside world (an SMS provider's webhooks) reaches this site at.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default=SITE_URL).rstrip("/")

# --- Auth ---------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        # ASVS 2.1.1: at least 12 characters.
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    # First: refuses sign-ins while a username/address is locked out.
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend reading the user's roles with the user (one query a request, not two).
    "accounts.backends.ClinicModelBackend",
    # Sessions signed in before ClinicModelBackend name this one: they stay signed in.
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Failed sign-ins: after AXES_FAILURE_LIMIT failures for one username from one address, that
# pair is locked out for AXES_COOLOFF_TIME hours.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_TIME", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The client's address (accounts/addresses.py): behind TRUSTED_PROXY_COUNT proxies, the entry
# the outermost one appended to X-Forwarded-For; else the connecting address.
TRUSTED_PROXY_COUNT = env.int(
    "TRUSTED_PROXY_COUNT", default=1 if env.bool("BEHIND_HTTPS_PROXY", default=False) else 0
)
AXES_CLIENT_IP_CALLABLE = "accounts.addresses.client_ip"

# Beyond axes' per-account lockout: failed sign-ins from one address across all usernames, and
# password-reset requests, counted in Redis (accounts/throttle.py; "N/s", "N/m", "N/h", "N/d").
SIGN_IN_FAILURES_PER_IP = env.str("SIGN_IN_FAILURES_PER_IP", default="20/h")
RESET_REQUESTS_PER_IP = env.str("RESET_REQUESTS_PER_IP", default="10/h")
RESET_REQUESTS_PER_EMAIL = env.str("RESET_REQUESTS_PER_EMAIL", default="3/h")

# Second factor (accounts/two_factor.py). Required for clinicians and clinic admins where
# STAFF_2FA_REQUIRED is on (production's default); anyone may enrol, and is then asked for a
# code at every sign-in. "Remember this device" skips the code for this many days (0: no such
# option). Wrong codes from one address are paused after TWO_FACTOR_FAILURES_PER_IP.
STAFF_2FA_REQUIRED = env.bool("STAFF_2FA_REQUIRED", default=not DEBUG)
TWO_FACTOR_REMEMBER_DAYS = env.int("TWO_FACTOR_REMEMBER_DAYS", default=30)
TWO_FACTOR_FAILURES_PER_IP = env.str("TWO_FACTOR_FAILURES_PER_IP", default="20/h")
OTP_TOTP_ISSUER = CLINIC_NAME  # what the authenticator app names the account by
# The admin never shows a device's secret or its QR code, nor unused recovery codes.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Staff are signed out after this many minutes without a request (accounts/middleware.py).
STAFF_IDLE_TIMEOUT_MINUTES = env.int("STAFF_IDLE_TIMEOUT_MINUTES", default=30)

# Portal invitations and password resets: links work once and for this many seconds.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 24 * 3600)

# Follow-up photos: what an upload may be.
PHOTO_MAX_BYTES = env.int("PHOTO_MAX_BYTES", default=10 * 1024 * 1024)
PHOTO_TYPES = ("jpeg", "png", "webp")
# A request larger than this is refused from its Content-Length, before its body is read:
# room for a photo of each of the five views, and the form around them.
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=5 * PHOTO_MAX_BYTES + 1024 * 1024)

# --- History (django-pghistory) -----------------------------------------------------------
# Every insert, update and delete of a clinical row is copied by a PostgreSQL trigger into the
# model's event table (README, "Audit trail"), with the request's context (who, path, IP)
# stored on the event row itself (JSON, not a shared context table that rows would update).
# The event tables refuse UPDATE and DELETE (pgtrigger), so the history cannot be rewritten.
PGHISTORY_DEFAULT_TRACKERS = (
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
)
PGHISTORY_APPEND_ONLY = True
PGHISTORY_CONTEXT_FIELD = pghistory.ContextJSONField()
# Each event's own time (not the transaction's start): a history lists the changes of one
# transaction (a session moved with its follow-ups) in the order they were made.
PGHISTORY_CREATED_AT_FUNCTION = "clock_timestamp()"

# --- Static and uploaded files ------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploaded photos and certificates are medical records: they are never served as public
# media, only through views that check who is asking (treatments/files.py).
# Default: files on this machine's disk (MEDIA_ROOT), for a clinic on one server. Several web
# or worker nodes share an S3-compatible bucket instead (clinic/storage_settings.py):
# STORAGE_URL=s3://KEY:SECRET@BUCKET/PREFIX?endpoint_url=https://host&region=REGION, or
# AWS_STORAGE_BUCKET_NAME with AWS_S3_ENDPOINT_URL, AWS_S3_REGION_NAME, AWS_LOCATION,
# AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. The views then answer a redirect to a URL
# signed for the one file, valid MEDIA_URL_SECONDS; every call to the store times out after
# STORAGE_TIMEOUT seconds (three attempts at most).
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
MEDIA_URL_SECONDS = env.int("MEDIA_URL_SECONDS", default=60)
STORAGE_TIMEOUT = env.float("STORAGE_TIMEOUT", default=5.0)
STORAGE_URL = env.str("STORAGE_URL", default="")
try:
    _bucket = (
        storage_settings.parse_storage_url(STORAGE_URL)
        if STORAGE_URL
        else {
            "bucket": env.str("AWS_STORAGE_BUCKET_NAME", default=""),
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default=""),
            "region": env.str("AWS_S3_REGION_NAME", default=""),
            "location": env.str("AWS_LOCATION", default=""),
            "addressing_style": env.str("AWS_S3_ADDRESSING_STYLE", default=""),
            "access_key": env.str("AWS_ACCESS_KEY_ID", default=""),
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default=""),
        }
    )
    _media_storage = (
        {
            "BACKEND": storage_settings.S3_BACKEND,
            "OPTIONS": storage_settings.s3_options(
                **_bucket, url_seconds=MEDIA_URL_SECONDS, timeout=STORAGE_TIMEOUT
            ),
        }
        if _bucket["bucket"]
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    )
except storage_settings.StorageConfigError as exc:
    raise ImproperlyConfigured(str(exc)) from exc
if not DEBUG and (_bucket["endpoint_url"] or "").startswith("http:"):
    # Photos would cross the network in clear, and browsers refuse (or upgrade) an http
    # image on an https page: the signed URLs would not load.
    raise ImproperlyConfigured("The storage endpoint_url must be https:// in production.")
STORAGES = {
    "default": _media_storage,
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- Email --------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default=f"{CLINIC_NAME} <clinic@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Seconds any one socket operation with the mail server may take: a server that accepts and
# never answers (or stalls mid-message) fails the send instead of stopping delivery.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

# --- Reminders ----------------------------------------------------------------------------
# Email goes through EMAIL_URL (above; EMAIL_BACKEND overrides it, e.g. for tests). SMS goes
# through SMS_BACKEND: the console/log backend until a provider backend is configured.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default=EMAIL_CONFIG["EMAIL_BACKEND"])
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(BASE_DIR / ".run" / "mail"))
# Without a provider, production has SMS switched off (SMS reminders fail visibly in the
# failed list) rather than printed; a developer's machine prints them.
SMS_BACKEND = env.str(
    "SMS_BACKEND",
    default="reminders.channels.ConsoleSmsBackend"
    if DEBUG
    else "reminders.channels.DisabledSmsBackend",
)
# Twilio (reminders.twilio): SMS_BACKEND=twilio with TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and
# TWILIO_FROM, or all three in one SMS_URL=twilio://SID:TOKEN@FROM (which also selects it).
# TWILIO_API_BASE points the client elsewhere (the tests' local fake server); the webhooks
# check X-Twilio-Signature against PUBLIC_BASE_URL (default SITE_URL) + their path.
SMS_URL = env.str("SMS_URL", default="")
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM = env.str("TWILIO_FROM", default="")
if SMS_URL:
    _sms = urllib.parse.urlsplit(SMS_URL)
    if _sms.scheme != "twilio" or not (_sms.username and _sms.password and _sms.hostname):
        raise ImproperlyConfigured("SMS_URL must look like twilio://ACCOUNT_SID:AUTH_TOKEN@FROM")
    SMS_BACKEND = "twilio"
    TWILIO_ACCOUNT_SID = urllib.parse.unquote(_sms.username)
    TWILIO_AUTH_TOKEN = urllib.parse.unquote(_sms.password)
    TWILIO_FROM = urllib.parse.unquote(_sms.netloc.rsplit("@", 1)[1])
if SMS_BACKEND == "twilio":
    SMS_BACKEND = "reminders.twilio.TwilioSmsBackend"
TWILIO_API_BASE = env.str("TWILIO_API_BASE", default="https://api.twilio.com")
TWILIO_STATUS_CALLBACKS = env.bool("TWILIO_STATUS_CALLBACKS", default=True)
# Console backends print invitation and reset links and patients' names to the log: production
# refuses them unless ALLOW_CONSOLE_MESSAGES=1 says so on purpose (a demo server, say).
CONSOLE_MESSAGE_BACKENDS = (
    "django.core.mail.backends.console.EmailBackend",
    "reminders.channels.ConsoleSmsBackend",
)
if not DEBUG and not env.bool("ALLOW_CONSOLE_MESSAGES", default=False):
    _printing = [b for b in (EMAIL_BACKEND, SMS_BACKEND) if b in CONSOLE_MESSAGE_BACKENDS]
    if _printing:
        raise ImproperlyConfigured(
            f"{', '.join(_printing)} would print patients' messages and sign-in links to the "
            "log. Set EMAIL_URL (e.g. smtp+tls://user:pass@host:587) and SMS_BACKEND to a "
            "provider, or ALLOW_CONSOLE_MESSAGES=1 if printing them is what you want."
        )
# What an SMS provider backend must pass as its HTTP timeout (seconds).
SMS_TIMEOUT = env.int("SMS_TIMEOUT", default=10)
# The longest one send may take on any channel: sizes the lease and the task time limits.
REMINDER_SEND_TIMEOUT = max(EMAIL_TIMEOUT, SMS_TIMEOUT)
REMINDER_BATCH_SIZE = env.int("REMINDER_BATCH_SIZE", default=20)
# 0: derived from the send timeout (2 x timeout + 5 s), renewed before every send.
REMINDER_LEASE_SECONDS = env.int("REMINDER_LEASE_SECONDS", default=0)
REMINDER_MAX_ATTEMPTS = env.int("REMINDER_MAX_ATTEMPTS", default=5)

# Lots: the staff pages warn of a lot expiring within this many days, or with this many
# vials on hand or fewer.
LOT_EXPIRY_WARNING_DAYS = env.int("LOT_EXPIRY_WARNING_DAYS", default=30)
LOT_LOW_STOCK_VIALS = env.int("LOT_LOW_STOCK_VIALS", default=5)
# A dispatch task drains due reminders for at most this long, then hands over to a new task.
REMINDER_DISPATCH_SECONDS = env.int("REMINDER_DISPATCH_SECONDS", default=50)
# After a dropped database connection, a worker retries a step after these pauses (seconds).
REMINDER_DB_RETRY_DELAYS = (0.2, 1.0, 3.0, 5.0)
# The mail provider could not be reached: the batch's other emails wait this long.
REMINDER_PROVIDER_DOWN_PAUSE = env.int("REMINDER_PROVIDER_DOWN_PAUSE", default=60)
# Staff writes that touch reminder rows (cancel, move) wait at most this long for a row lock,
# then say "try again in a moment" instead of hanging the request.
STAFF_LOCK_TIMEOUT_SECONDS = env.float("STAFF_LOCK_TIMEOUT_SECONDS", default=3.0)

# Patient self-booking in the portal: how many weeks ahead the patient may pick a slot, and
# how many hours before a session the patient may still cancel or move it themselves (inside
# that notice they send the clinic a request instead).
SELF_BOOKING_WEEKS = env.int("SELF_BOOKING_WEEKS", default=8)
SELF_SERVICE_NOTICE_HOURS = env.int("SELF_SERVICE_NOTICE_HOURS", default=48)
# On: a self-booking is a request the front desk books (or declines) on /booking-requests/.
SELF_BOOKING_NEEDS_APPROVAL = env.bool("SELF_BOOKING_NEEDS_APPROVAL", default=False)
# The waitlist: a patient offered a freed time has this long to accept it (never past the
# start of their NSAID pause before it), then it is offered to the next (treatments.waitlist).
WAITLIST_OFFER_HOURS = env.int("WAITLIST_OFFER_HOURS", default=12)
# A worker's database session that sits idle inside a transaction longer than this is ended
# by PostgreSQL (its locks released): the worker never sends inside a transaction.
WORKER_IDLE_IN_TRANSACTION_SECONDS = env.int("WORKER_IDLE_IN_TRANSACTION_SECONDS", default=30)
REMINDER_MESSAGE_ID_DOMAIN = env.str("REMINDER_MESSAGE_ID_DOMAIN", default="clinic.invalid")

# The status page (/status/) flags a dispatcher silent, or a due reminder waiting, this long.
STATUS_HEARTBEAT_STALE_SECONDS = env.int("STATUS_HEARTBEAT_STALE_SECONDS", default=180)
STATUS_BACKLOG_STALE_SECONDS = env.int("STATUS_BACKLOG_STALE_SECONDS", default=600)

# The follow-up review's 90-day adherence is recounted by beat this often (seconds).
FOLLOW_UP_ADHERENCE_RECOUNT_SECONDS = 300

# --- Celery (Redis broker) ----------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_TIMEZONE = "UTC"  # the beat schedule runs in UTC; local times are computed in our code
CELERY_ENABLE_UTC = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# Above the dispatch budget plus one send at its worst: a task past its budget is stopped
# (soft: an exception in the task; hard: the pool process is replaced). Leases bring its
# rows back. A worker told to stop (SIGTERM) therefore finishes within the hard limit.
CELERY_TASK_SOFT_TIME_LIMIT = REMINDER_DISPATCH_SECONDS + REMINDER_SEND_TIMEOUT + 10
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 20
CELERY_BEAT_SCHEDULE = {
    # Every minute, in UTC. Local reminder times are computed in treatments.rules, never by
    # a crontab that would have to know about DST.
    "dispatch-due-reminders": {
        "task": "reminders.tasks.dispatch_due_reminders",
        "schedule": 60.0,
    },
    # Waitlist offers past their time expire and their slot goes to the next patient.
    "advance-waitlist": {
        "task": "reminders.tasks.advance_waitlist",
        "schedule": 60.0,
    },
    # The review's 90-day adherence, counted here instead of in an admin's request (kept in
    # the cache for longer than this: treatments.selectors.follow_up_adherence). A recount
    # not started within its interval (no worker) is dropped: the next one replaces it.
    "recount-follow-up-adherence": {
        "task": "treatments.tasks.recount_follow_up_adherence",
        "schedule": float(FOLLOW_UP_ADHERENCE_RECOUNT_SECONDS),
        "options": {"expires": FOLLOW_UP_ADHERENCE_RECOUNT_SECONDS},
    },
}

# --- Caches -------------------------------------------------------------------------------
# Both in Redis, shared by every web and worker node (a per-process memory cache would give
# each node its own counters and locks). "default" (CACHE_URL): the sessions' copies and the
# review's 90-day adherence (treatments.selectors.follow_up_adherence).
# "throttle" holds the sign-in and reset counters (accounts/throttle.py); short timeouts so a
# Redis outage costs a page a second at most, never a sign-in.
CACHES = {
    "default": {
        "BACKEND": "clinic.cache.SharedClientRedisCache",
        "LOCATION": env.str("CACHE_URL", default=REDIS_URL),
        "KEY_PREFIX": "clinic",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    },
    "throttle": {
        "BACKEND": "clinic.cache.SharedClientRedisCache",
        "LOCATION": env.str("THROTTLE_CACHE_URL", default=REDIS_URL),
        "KEY_PREFIX": "throttle",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    },
}
RATELIMIT_USE_CACHE = "throttle"
# Sessions are read from the "default" cache (Redis), written through to the database: a
# signed-in page reads its session without a query. A Redis outage falls back to the
# database (cached_db catches the cache's errors), as does a session missing from Redis.
SESSION_ENGINE = env.str("SESSION_ENGINE", default="django.contrib.sessions.backends.cached_db")
RATELIMIT_FAIL_OPEN = True

# --- Security -----------------------------------------------------------------------------
# Secure by default; DEBUG (a developer's machine, plain http) relaxes what needs https.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
if env.bool("BEHIND_HTTPS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy (django-csp 4): nothing but this site's own files runs or styles a
# page; no inline script, event handler, <style> or style="" (the templates have none:
# tests/test_csp.py scans them), no eval, no plugins, no framing, forms post only here.
# `data:` images are Bootstrap's own icons (the select arrow, the navbar toggler), which its
# CSS draws as data: SVGs.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# A 4xx (a 403 for the wrong role, a 400 for bad input) is one WARNING line, not a
# traceback: the filter sits on django.request (where Django logs them) and on the console
# handler (for the django.security.* loggers, whose records reach it by propagation).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"client_errors_on_one_line": {"()": "clinic.logging.ClientErrorsOnOneLine"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["client_errors_on_one_line"],
        }
    },
    "loggers": {
        "django.request": {"filters": ["client_errors_on_one_line"]},
        # django-axes logs "AXES: BEGIN ..." in every process that starts Django: four times
        # under `make run` (migrate, seed_demo, runserver's watcher and its server). On a
        # developer's machine say it once, in the process that serves (RUN_MAIN is set by
        # runserver's autoreloader there).
        "axes.apps": {
            "level": "INFO" if not DEBUG or os.environ.get("RUN_MAIN") == "true" else "WARNING"
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
