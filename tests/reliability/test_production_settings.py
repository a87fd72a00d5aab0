"""Production settings are safe: check --deploy is clean, and the development defaults never reach production."""
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def manage(*args, **env):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "DATABASE_URL", "REDIS_CACHE_URL", "PETSITE_"))}
    base.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=base, capture_output=True, text=True, timeout=120)


def production_env(**extra):
    return {"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": secrets.token_urlsafe(64), "DJANGO_ALLOWED_HOSTS": "example.com", **extra}


def test_check_deploy_is_clean_with_production_variables():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **production_env())
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output, output


def test_debug_off_without_a_secret_key_fails_loudly():
    result = manage("check", DJANGO_DEBUG="0", DJANGO_ALLOWED_HOSTS="example.com")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize("weak", ["short", "django-insecure-development-only-key-do-not-use-in-production"])
def test_a_weak_secret_key_is_flagged_by_check_deploy(weak):
    result = manage("check", "--deploy", "--fail-level", "WARNING", DJANGO_DEBUG="0", DJANGO_SECRET_KEY=weak, DJANGO_ALLOWED_HOSTS="example.com")
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


def test_production_defaults_turn_on_the_guards():
    """With only the production variables set: rate limits on, secure cookies, HSTS, no DEBUG."""
    code = (
        "import django;django.setup();from django.conf import settings as s;"
        "print(s.DEBUG, s.PETSITE_RATELIMIT_UPLOAD, s.PETSITE_RATELIMIT_API, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SECURE_HSTS_SECONDS > 0, s.SECURE_CONTENT_TYPE_NOSNIFF, s.PETSITE_MAX_REQUEST_BYTES > 0, s.ALLOWED_HOSTS)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PETSITE_"))}
    env.update(production_env(DJANGO_SETTINGS_MODULE="petsite.settings"))
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "30/m", "600/m", "True", "True", "True", "True", "True", "['example.com']"]
