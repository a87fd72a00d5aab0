"""The server `make run` starts, started by `make run` itself: oversized uploads get a clean 413, normal ones are classified."""
import re

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


def embedded_env(tmp_path, model_path):
    return harness.site_env(tmp_path / "media", model_path, sqlite_path=tmp_path / "db.sqlite3", broker_url="",
                         extra={"PETSITE_ADMIN_PASSWORD": "make-run-test-password"})


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
    with MakeRun(embedded_env(tmp_path, live_model_path), log_path=tmp_path / "make-run.log") as site:
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

        # Static files are served in the DEBUG default too (whitenoise), so the admin is styled.
        css = session.get(f"{site.url}/static/admin/css/base.css", timeout=30)
        assert css.status_code == 200 and "text/css" in css.headers["Content-Type"]
    log = site.log_tail(200_000)
    assert "gunicorn" in log.lower(), log[-2000:]
    assert "Traceback" not in log, log[-4000:]


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
