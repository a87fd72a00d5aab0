"""The server `make run` starts, started by `make run` itself: oversized uploads get a clean 413, normal ones are classified;
DEBUG is off (the site's own 404 page) yet the admin works over plain http (its CSS served, its login cookie kept)."""
import re
import stat

import pytest
import requests

import harness
from tests.conftest import color_image_bytes

pytestmark = pytest.mark.slow

OVERSIZED = b"\xff" * (30 * 1024 * 1024)  # the 30 MB upload of issue 9, three times the default 10 MB limit


class MakeRun(harness.LiveSite):
    """`make run` on a free port, with the test's database, media folder and model."""

    name = "make-run"

    def command(self):
        # -o: the virtual environment running this test is used as it is (never reinstalled from here).
        return ["make", "-o", ".venv/.installed", "run", f"HOST={self.host}", f"PORT={self.port}"]


ADMIN_PASSWORD = "make-run-test-password"


def embedded_env(tmp_path, model_path):
    return harness.site_env(tmp_path / "media", model_path, sqlite_path=tmp_path / "db.sqlite3", broker_url="",
                         extra={"PETSITE_ADMIN_PASSWORD": ADMIN_PASSWORD})


def make_run_env(tmp_path, model_path, **extra):
    """What `make run` gets on a fresh machine: no DJANGO_* variable (the harness's DJANGO_DEBUG=1 removed), so the
    Makefile's embedded defaults apply; only the secret key file and the collected static files go under tmp_path."""
    env = {k: v for k, v in embedded_env(tmp_path, model_path).items()
           if not k.startswith("DJANGO_") or k == "DJANGO_SETTINGS_MODULE"}
    env.update(DJANGO_SECRET_KEY_FILE=str(tmp_path / "local" / "secret_key"), DJANGO_STATIC_ROOT=str(tmp_path / "static"),
               **extra)
    return env


def log_in_to_admin(session, base_url):
    """Log in as the admin `make run` (ensure_admin) created; returns the admin index's response."""
    login = session.get(f"{base_url}/admin/login/", timeout=30)
    assert login.status_code == 200, login.text[:300]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    session.post(f"{base_url}/admin/login/?next=/admin/", timeout=30, data={
        "csrfmiddlewaretoken": token, "username": "admin", "password": ADMIN_PASSWORD, "next": "/admin/"})
    return session.get(f"{base_url}/admin/", timeout=30, allow_redirects=False)


def post_oversized_form(session, base_url):
    home = session.get(f"{base_url}/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', home.text).group(1)
    return session.post(f"{base_url}/", data={"csrfmiddlewaretoken": token},
                        files={"image": ("huge.jpg", OVERSIZED, "image/jpeg")}, timeout=60)


def assert_refused_as_too_big(api_response, form_response):
    assert api_response.status_code == 413, api_response.text[:300]
    assert api_response.headers["Content-Type"] == "application/json"
    assert "too big" in api_response.json()["error"]
    assert form_response.status_code == 413, form_response.text[:300]
    assert form_response.headers["Content-Type"].startswith("text/html")
    assert "too big" in form_response.text and 'href="/"' in form_response.text  # a page, with the way back


def test_make_run_refuses_oversized_uploads_and_classifies_normal_ones(tmp_path, live_model_path):
    with MakeRun(make_run_env(tmp_path, live_model_path), log_path=tmp_path / "make-run.log") as site:
        session = requests.Session()
        api = session.post(f"{site.url}/api/predictions/", files={"image": ("huge.jpg", OVERSIZED, "image/jpeg")}, timeout=60)
        form = post_oversized_form(session, site.url)
        assert_refused_as_too_big(api, form)

        # The same connections carry on after a refusal: a normal upload through the form, then the API.
        home = session.get(f"{site.url}/", timeout=30)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', home.text).group(1)
        page = session.post(f"{site.url}/", data={"csrfmiddlewaretoken": token},
                            files={"image": ("blue.jpg", color_image_bytes((20, 20, 230)), "image/jpeg")}, timeout=60)
        assert page.status_code == 200 and re.search(r"/predictions/(\d+)/$", page.url), (page.status_code, page.url)
        form_id = int(re.search(r"/predictions/(\d+)/$", page.url).group(1))
        status, body = harness.http_json(f"{site.url}/api/predictions/",
                                      files={"image": ("red.jpg", color_image_bytes((230, 20, 20)), "image/jpeg")})
        assert status == 202, body
        assert harness.wait_for_prediction(site.url, form_id, timeout=120)["label"] == "fish"
        assert harness.wait_for_prediction(site.url, body["id"], timeout=60)["label"] == "cat"

        # DEBUG is off: an unknown address gets the site's own 404 page, not Django's technical one.
        missing = session.get(f"{site.url}/no-such-page/", timeout=30)
        assert missing.status_code == 404 and missing.headers["Content-Type"].startswith("text/html")
        assert "<title>Page not found · petsite</title>" in missing.text and "Browse past predictions" in missing.text
        assert "Using the URLconf" not in missing.text and "DEBUG = True" not in missing.text

        # Static files are collected and served by whitenoise from STATIC_ROOT, so the admin is styled.
        css = session.get(f"{site.url}/static/admin/css/base.css", timeout=30)
        assert css.status_code == 200 and "text/css" in css.headers["Content-Type"]

        # Plain http works: no redirect to https, no HSTS, and the admin's login cookies come back (not Secure).
        assert home.status_code == 200 and home.url.startswith("http://") and "Strict-Transport-Security" not in home.headers
        admin = log_in_to_admin(requests.Session(), site.url)
        assert admin.status_code == 200, (admin.status_code, admin.headers.get("Location"))
        assert "petsite administration" in admin.text and "Log out" in admin.text

    key_file = tmp_path / "local" / "secret_key"
    assert len(key_file.read_text().strip()) >= 50 and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    log = site.log_tail(200_000)
    assert "gunicorn" in log.lower(), log[-2000:]
    assert f"Serving {site.url}/" in log and "DEBUG off" in log, log[-4000:]
    assert "Traceback" not in log, log[-4000:]


def test_make_run_with_django_debug_on_is_the_development_mode(tmp_path, live_model_path):
    """DJANGO_DEBUG=1 make run: Django's technical 404 page, for whoever develops the site."""
    with MakeRun(make_run_env(tmp_path, live_model_path, DJANGO_DEBUG="1"), log_path=tmp_path / "make-run.log") as site:
        missing = requests.get(f"{site.url}/no-such-page/", timeout=30)
        assert missing.status_code == 404 and "Using the URLconf" in missing.text
        css = requests.get(f"{site.url}/static/admin/css/base.css", timeout=30)
        assert css.status_code == 200 and "text/css" in css.headers["Content-Type"]
        assert log_in_to_admin(requests.Session(), site.url).status_code == 200
    assert f"Serving {site.url}/ (DJANGO_DEBUG=1)" in site.log_tail(200_000)


def test_django_runserver_also_answers_413_not_500(tmp_path, live_model_path):
    """`manage.py runserver` (wsgiref) refuses hop-by-hop headers from the application; the 413 must not set one."""
    env = embedded_env(tmp_path, live_model_path)
    harness.migrate(env)
    with harness.LiveSite(env, server="runserver", log_path=tmp_path / "runserver.log") as site:
        session = requests.Session()
        api = session.post(f"{site.url}/api/predictions/", files={"image": ("huge.jpg", OVERSIZED, "image/jpeg")}, timeout=60)
        form = post_oversized_form(session, site.url)
        assert_refused_as_too_big(api, form)
    assert "Hop-by-hop" not in site.log_tail(200_000)
