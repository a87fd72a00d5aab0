"""A batch tile the page judged not a photo (a file the browser cannot decode, not HEIC) never says "Ready to upload",
in a real headless Chromium (Debian's) against Django's live server; once sent, it shows the server's reason only."""
import os
from pathlib import Path

import pytest

from classifier import services
from tests.classifier.conftest import chromium
from tests.conftest import color_image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
ARTIFACTS = Path(os.environ.get("PETSITE_TEST_ARTIFACTS", "/tmp/petsite-artifacts"))


def test_a_tile_that_does_not_look_like_a_photo_never_says_ready(live_server, settings, monkeypatch, tmp_path):
    from playwright.sync_api import expect

    settings.PETSITE_RATELIMIT_UPLOAD = "0"
    monkeypatch.setattr(services, "dispatch_on_commit", lambda *args: None)  # no worker: the photo stays pending
    (tmp_path / "red.png").write_bytes(color_image_bytes((230, 20, 20), fmt="PNG"))
    (tmp_path / "text.jpg").write_text("not a photo at all")  # the picker takes it (.jpg); no browser can decode it
    with chromium(monkeypatch, **PHONE) as page:
        page.goto(live_server.url + "/")
        page.set_input_files("#id_image", [str(tmp_path / "red.png"), str(tmp_path / "text.jpg")])
        good, bad = page.locator("#batch-grid > *").nth(0), page.locator("#batch-grid > *").nth(1)
        expect(bad.get_by_text("Doesn't look like a photo")).to_be_visible()
        expect(bad.locator(".answer")).to_have_text("We will check it when you upload.")
        expect(bad.get_by_text("Ready to upload")).to_have_count(0)
        expect(good.locator(".answer")).to_have_text("Ready to upload")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "phone-batch-not-a-photo-tile.png"), full_page=True)

        page.click("#upload-button")
        expect(bad).to_have_attribute("data-status", "refused")
        expect(bad.locator(".answer")).to_have_text("text.jpg: This file is not a JPEG, PNG, WebP, HEIC or AVIF image.")
        expect(bad.get_by_text("Ready to upload")).to_have_count(0)
        expect(bad.get_by_text("We will check it")).to_have_count(0)
        expect(good).to_have_attribute("data-status", "pending")
