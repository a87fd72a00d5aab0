"""The result page's "Delete my photo…" leads to the confirmation page at a clean address (/predictions/N/delete/, no
stray "?" as a GET form without fields gave; without JavaScript: tests/e2e/test_public_site.py), in a real headless
Chromium (Debian's) against Django's live server."""
import re

import pytest

from classifier import services
from classifier.models import Prediction
from tests.classifier.conftest import chromium
from tests.conftest import color_image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_delete_confirmation_page_has_a_clean_address(live_server, settings, monkeypatch, tmp_path):
    from playwright.sync_api import expect

    settings.PETSITE_RATELIMIT_UPLOAD = "0"
    monkeypatch.setattr(services, "dispatch_on_commit", lambda *args: None)  # no worker: the page stays pending
    (tmp_path / "mine.png").write_bytes(color_image_bytes((230, 20, 20), fmt="PNG"))
    with chromium(monkeypatch, viewport={"width": 1280, "height": 800}) as page:
        page.goto(live_server.url + "/")
        page.set_input_files("#id_image", str(tmp_path / "mine.png"))
        page.click("#upload-button")
        page.wait_for_url(re.compile(r".*/predictions/\d+/$"))
        prediction_url = page.url
        page.get_by_role("link", name="Delete my photo…").click()
        expect(page.get_by_role("heading", name="Delete this photo?")).to_be_visible()
        assert page.url == prediction_url + "delete/"  # not ".../delete/?"
        page.go_back()
        assert page.url == prediction_url  # no entry with a "?" in the history either
        page.go_forward()
        assert page.url == prediction_url + "delete/"
        page.get_by_role("button", name="Yes, delete my photo").click()
        page.wait_for_url(live_server.url + "/")
        assert not Prediction.objects.exists()
