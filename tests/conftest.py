import pytest
from django.conf import settings as django_settings


@pytest.fixture(scope="session", autouse=True)
def _postgresql_only():
    """The protocol's database constraints exist only on PostgreSQL: test there, always."""
    engine = django_settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        pytest.exit(
            "The tests run on PostgreSQL. Set "
            "DATABASE_URL=postgres://postgres@127.0.0.1:5432/clinic (or run `make test`).",
            returncode=2,
        )


@pytest.fixture(autouse=True)
def _clinic_settings(settings, tmp_path):
    settings.CLINIC_TIME_ZONE = "Europe/Berlin"
    settings.TIME_ZONE = "Europe/Berlin"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
