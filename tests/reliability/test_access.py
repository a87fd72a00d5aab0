"""CSRF on every form, staff-only admin actions, per-client rate limits with a clear 429."""
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from classifier.models import Prediction
from petsite.ratelimit import parse_rate
from tests.reliability import crafted as c

pytestmark = pytest.mark.django_db


def photo(name="cat.jpg"):
    return SimpleUploadedFile(name, c.image_bytes("JPEG", c.RED), content_type="image/jpeg")


def csrf_token_from(response):
    return re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', response.content).group(1).decode()


def test_upload_form_post_without_csrf_token_is_refused():
    client = Client(enforce_csrf_checks=True)
    client.get("/")
    response = client.post("/", {"image": photo()})
    assert response.status_code == 403
    assert Prediction.objects.count() == 0


def test_upload_form_post_with_csrf_token_is_accepted():
    client = Client(enforce_csrf_checks=True)
    token = csrf_token_from(client.get("/"))
    response = client.post("/", {"image": photo(), "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert Prediction.objects.count() == 1


def test_every_page_form_that_posts_carries_a_csrf_token(client):
    for url in ("/", "/admin/login/"):
        content = client.get(url).content
        for form in re.findall(rb"<form[^>]*>.*?</form>", content, flags=re.S | re.I):
            if re.search(rb'method="post"', form, flags=re.I):
                assert b"csrfmiddlewaretoken" in form, (url, form[:200])


def test_admin_login_without_csrf_token_is_refused():
    User.objects.create_user("boss", password="pw-12345678", is_staff=True, is_superuser=True)
    client = Client(enforce_csrf_checks=True)
    response = client.post("/admin/login/", {"username": "boss", "password": "pw-12345678"})
    assert response.status_code == 403


def _prediction():
    from django.conf import settings

    path = Path(settings.MEDIA_ROOT) / "uploads" / "x.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(c.image_bytes("JPEG", c.RED))
    return Prediction.objects.create(image="uploads/x.jpg", status="done", label="cat", confidence=0.9)


ACTION_URL = "/admin/classifier/prediction/"


def _run_action(client, prediction, action="mark_as_correct"):
    return client.post(ACTION_URL, {"action": action, "_selected_action": [prediction.pk], "index": 0})


def test_anonymous_users_cannot_reach_admin_or_run_actions(client):
    prediction = _prediction()
    assert client.get(ACTION_URL).status_code == 302
    response = _run_action(client, prediction)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    prediction.refresh_from_db()
    assert prediction.true_label == ""


def test_logged_in_non_staff_users_cannot_run_admin_actions(client):
    user = User.objects.create_user("visitor", password="pw-12345678")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["change_prediction", "view_prediction"]))
    client.force_login(user)
    prediction = _prediction()
    response = _run_action(client, prediction)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    prediction.refresh_from_db()
    assert prediction.true_label == ""


def test_staff_without_change_permission_cannot_relabel(client):
    user = User.objects.create_user("viewer", password="pw-12345678", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_prediction"))
    client.force_login(user)
    prediction = _prediction()
    _run_action(client, prediction)
    _run_action(client, prediction, "relabel_as_dog")
    prediction.refresh_from_db()
    assert prediction.true_label == ""


def test_staff_with_change_permission_can_run_actions(client):
    user = User.objects.create_user("reviewer", password="pw-12345678", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["change_prediction", "view_prediction"]))
    client.force_login(user)
    prediction = _prediction()
    response = _run_action(client, prediction, "relabel_as_dog")
    assert response.status_code == 302
    prediction.refresh_from_db()
    assert prediction.true_label == "dog" and prediction.reviewed_by == user


def test_public_urls_trigger_no_jobs():
    """Outside /admin/, the only URLs that accept a POST are the two upload entry points: nothing else can start work."""
    from django.urls import get_resolver

    allowed_post = {"home", "predictions"}
    checked = []

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if route.startswith("admin/"):
                continue
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns, route)
                continue
            url = "/" + re.sub(r"<int:\w+>", "1", route).replace("^", "").replace("$", "").replace("(?P<path>.*)", "uploads/x.jpg")
            checked.append((pattern.name, url))

    walk(get_resolver().url_patterns)
    client = Client()
    for name, url in checked:
        status = client.post(url).status_code
        if name in allowed_post:
            assert status in (400, 413, 429), (name, url, status)  # refused for want of a file, not for the method
        else:
            assert status in (403, 404, 405), (name, url, status)
    assert {name for name, _ in checked} >= allowed_post


# --- rate limits ----------------------------------------------------------------------------------------------

def test_rate_parsing():
    assert parse_rate("30/m") == (30, 60)
    assert parse_rate("10/5s") == (10, 5)
    assert parse_rate("100/h") == (100, 3600)
    assert parse_rate("0") is None and parse_rate("") is None
    with pytest.raises(ValueError):
        parse_rate("lots")


def test_api_uploads_are_rate_limited_per_client_with_a_clear_429(settings):
    settings.PETSITE_RATELIMIT_UPLOAD = "3/m"
    alice, bob = Client(REMOTE_ADDR="10.0.0.1"), Client(REMOTE_ADDR="10.0.0.2")
    codes = [alice.post("/api/predictions/", {"image": photo()}).status_code for _ in range(3)]
    assert codes == [202, 202, 202]
    refused = alice.post("/api/predictions/", {"image": photo()})
    assert refused.status_code == 429
    assert "Too many uploads" in refused.json()["error"] and "3 per minute" in refused.json()["error"]
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert Prediction.objects.count() == 3
    # Another client is not affected.
    assert bob.post("/api/predictions/", {"image": photo()}).status_code == 202


def test_form_uploads_share_the_upload_limit_and_say_why(settings):
    settings.PETSITE_RATELIMIT_UPLOAD = "2/m"
    client = Client(REMOTE_ADDR="10.0.0.3")
    assert client.post("/api/predictions/", {"image": photo()}).status_code == 202
    assert client.post("/", {"image": photo()}).status_code == 302
    response = client.post("/", {"image": photo()})
    assert response.status_code == 429
    assert b"Too many uploads" in response.content and response["Retry-After"]
    # Reading pages is not an upload.
    assert client.get("/").status_code == 200


def test_api_reads_are_rate_limited(settings):
    settings.PETSITE_RATELIMIT_API = "5/m"
    client = Client(REMOTE_ADDR="10.0.0.4")
    prediction = _prediction()
    codes = [client.get(f"/api/predictions/{prediction.pk}/").status_code for _ in range(7)]
    assert codes == [200] * 5 + [429, 429]


def test_forwarded_for_is_ignored_unless_trusted(settings):
    settings.PETSITE_RATELIMIT_UPLOAD = "1/m"
    client = Client(REMOTE_ADDR="10.0.0.5")
    assert client.post("/api/predictions/", {"image": photo()}, HTTP_X_FORWARDED_FOR="1.1.1.1").status_code == 202
    # Spoofing a new X-Forwarded-For does not buy a fresh budget.
    assert client.post("/api/predictions/", {"image": photo()}, HTTP_X_FORWARDED_FOR="2.2.2.2").status_code == 429
    settings.PETSITE_RATELIMIT_TRUST_X_FORWARDED_FOR = True
    assert client.post("/api/predictions/", {"image": photo()}, HTTP_X_FORWARDED_FOR="9.9.9.9, 3.3.3.3").status_code == 202


def test_rate_limiter_fails_open_when_the_cache_is_down(settings, monkeypatch):
    settings.PETSITE_RATELIMIT_UPLOAD = "1/m"
    from petsite import ratelimit

    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(ratelimit.cache, "add", broken)
    monkeypatch.setattr(ratelimit.cache, "incr", broken)
    client = Client(REMOTE_ADDR="10.0.0.6")
    assert [client.post("/api/predictions/", {"image": photo()}).status_code for _ in range(3)] == [202] * 3


def test_rate_limits_use_a_cross_process_cache_when_redis_is_configured():
    import os
    import subprocess
    import sys

    code = "import django;django.setup();from django.conf import settings as s;print(s.CACHES['default']['BACKEND'])"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "REDIS_CACHE_URL"))}
    env["DJANGO_SETTINGS_MODULE"] = "petsite.settings"
    for extra, expected in (({}, "locmem.LocMemCache"), ({"CELERY_BROKER_URL": "redis://127.0.0.1:6379/3"}, "redis.RedisCache"),
                            ({"REDIS_CACHE_URL": "redis://127.0.0.1:6379/4"}, "redis.RedisCache")):
        result = subprocess.run([sys.executable, "-c", code], env={**env, **extra}, capture_output=True, text=True, timeout=60,
                                cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
        assert result.stdout.strip().endswith(expected), (extra, result.stdout, result.stderr)
