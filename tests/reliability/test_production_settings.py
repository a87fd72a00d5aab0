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


def settings_values(names, **env):
    """The named settings as settings.py computes them from `env` alone (no DJANGO_/PETSITE_ variable inherited)."""
    code = f"import django;django.setup();from django.conf import settings as s;print(repr([getattr(s, n) for n in {names!r}]))"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PETSITE_"))}
    base.update(DJANGO_SETTINGS_MODULE="petsite.settings", **env)
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=base, capture_output=True, text=True, timeout=60)


def test_the_secret_key_can_come_from_a_file(tmp_path):
    """DJANGO_SECRET_KEY_FILE (what `make run` uses): its contents, stripped, are the key; DJANGO_SECRET_KEY wins."""
    key = secrets.token_urlsafe(64)
    key_file = tmp_path / "secret_key"
    key_file.write_text(key + "\n")
    result = settings_values(["SECRET_KEY", "DEBUG"], DJANGO_DEBUG="0", DJANGO_SECRET_KEY_FILE=str(key_file))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr([key, False])
    result = settings_values(["SECRET_KEY"], DJANGO_DEBUG="0", DJANGO_SECRET_KEY="from-the-environment-" + key,
                             DJANGO_SECRET_KEY_FILE=str(key_file))
    assert result.stdout.strip() == repr(["from-the-environment-" + key]), result.stderr
    env = production_env(DJANGO_SECRET_KEY_FILE=str(key_file))
    del env["DJANGO_SECRET_KEY"]
    check = manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("debug", ["0", "1"])
def test_a_missing_or_empty_secret_key_file_fails_loudly(tmp_path, debug):
    """A named key file is never silently replaced by the development key, in DEBUG either."""
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for path, reason in [(tmp_path / "absent", "cannot be read"), (empty, "is empty")]:
        result = manage("check", DJANGO_DEBUG=debug, DJANGO_ALLOWED_HOSTS="example.com", DJANGO_SECRET_KEY_FILE=str(path))
        assert result.returncode != 0
        assert "DJANGO_SECRET_KEY_FILE" in result.stderr and reason in result.stderr, result.stderr[-2000:]


def test_make_runs_plain_http_values_turn_off_only_what_they_name():
    """`make run`'s embedded local values (DEBUG off over plain http): no redirect, cookies not Secure, no HSTS, no proxy
    header trusted; the other guards stay on. Without them (production) the cookies are Secure; DJANGO_SECURE_COOKIES=0 alone turns off just those."""
    names = ["DEBUG", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS",
             "PETSITE_RATELIMIT_UPLOAD", "SECURE_CONTENT_TYPE_NOSNIFF", "SECURE_PROXY_SSL_HEADER"]
    proxy = ("HTTP_X_FORWARDED_PROTO", "https")
    local = settings_values(names, **production_env(DJANGO_SECURE_SSL_REDIRECT="0", DJANGO_SECURE_COOKIES="0",
                                                    DJANGO_SECURE_HSTS_SECONDS="0", DJANGO_BEHIND_TLS_PROXY="0"))
    assert local.returncode == 0, local.stderr
    assert local.stdout.strip() == repr([False, False, False, False, 0, "30/m", True, None])
    strict = settings_values(names, **production_env())
    assert strict.stdout.strip() == repr([False, True, True, True, 31536000, "30/m", True, proxy]), strict.stderr
    cookies_only = settings_values(names, **production_env(DJANGO_SECURE_COOKIES="0"))
    assert cookies_only.stdout.strip() == repr([False, True, False, False, 31536000, "30/m", True, proxy]), cookies_only.stderr
