"""The home page's upload when the upload rate limit (PETSITE_RATELIMIT_UPLOAD) is hit, in a real headless Chromium
(Debian's) against Django's live server: in a batch a rate-limited photo is "not sent yet", never "refused"; the chosen
photos stay chosen; the page counts down the server's Retry-After and tries again by itself, or at once with
"Try again now", sending only the photos not sent yet. By itself it resends only the ones the limit held back: one held
after a server error (the server may have stored it) waits for "Try again now". A photo refused for being bad stays
refused, with the server's reason. One photo alone keeps its file and says why inline.

The limiter is the real one (petsite/ratelimit.py, counting in the cache) with its clock held still, so the Retry-After
it answers is known (45 s into a minute window: 45) and a test moves to the next window when it wants the server to
accept again. Classification is switched off (no worker): an accepted photo stays "Classifying…"."""
import os
import re
from collections import Counter
from pathlib import Path

import pytest

from classifier import services
from classifier.models import Prediction
from tests.classifier.conftest import chromium
from tests.conftest import color_image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"viewport": {"width": 1280, "height": 800}}
ARTIFACTS = Path(os.environ.get("PETSITE_TEST_ARTIFACTS", "/tmp/petsite-artifacts"))
WINDOW_START = 1_800_000_000.0  # a multiple of 60 (and of 4): the start of a rate-limit window
REFUSAL = "text.jpg: This file is not a JPEG, PNG, WebP, HEIC or AVIF image."


def shot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


class Clock:
    """The limiter's `time` module, held still: time() is whatever the test says."""

    def __init__(self, now):
        self.now = now

    def time(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    from django.core.cache import cache

    from petsite import ratelimit

    cache.clear()  # no counts left from other tests
    clock = Clock(WINDOW_START + 15)  # 15 s into a minute window: a refusal says Retry-After 45
    monkeypatch.setattr(ratelimit, "time", clock)
    monkeypatch.setattr(services, "dispatch_on_commit", lambda *args: None)  # no worker: accepted photos stay pending
    yield clock
    cache.clear()


@pytest.fixture
def photos(tmp_path):
    paths = {}
    for name, color in [("red.png", (230, 20, 20)), ("green.png", (20, 230, 20)), ("blue.png", (20, 20, 230))]:
        paths[name] = tmp_path / name
        paths[name].write_bytes(color_image_bytes(color, fmt="PNG"))
    paths["text.jpg"] = tmp_path / "text.jpg"  # a text file named .jpg: the picker takes it, the server refuses it
    paths["text.jpg"].write_text("not a photo at all")
    return {name: str(path) for name, path in paths.items()}


def posts_to_home(page, live_server):
    """The names of the files the page posted to the upload form, in order (one POST per photo)."""
    sent = []
    home = live_server.url + "/"
    page.on("request", lambda request: sent.append(request.url) if request.method == "POST" and request.url == home else None)
    return sent


def test_a_rate_limited_batch_waits_keeps_the_photos_and_try_again_sends_only_those_not_sent(
        live_server, settings, clock, photos, monkeypatch):
    from playwright.sync_api import expect

    settings.PETSITE_RATELIMIT_UPLOAD = "1/m"
    with chromium(monkeypatch, **DESKTOP) as page:
        posted = posts_to_home(page, live_server)
        page.goto(live_server.url + "/")
        page.set_input_files("#id_image", [photos["red.png"], photos["text.jpg"], photos["green.png"]])
        tiles = page.locator("#batch-grid > *")
        expect(tiles).to_have_count(3)
        page.click("#upload-button")

        # The first photo is accepted; the limit holds the other two back. They are waiting, not bad photos.
        expect(tiles.nth(0)).to_have_attribute("data-status", "pending")
        for held in (tiles.nth(1), tiles.nth(2)):
            expect(held).to_have_attribute("data-status", "waiting")
            expect(held.locator(".answer")).to_have_text("Not sent yet (too many uploads)")
            expect(held).not_to_have_class(re.compile(r"\brefused\b"))
            expect(held.locator(".badge.failed")).to_have_count(0)
        expect(page.get_by_text("Refused")).to_have_count(0)
        expect(page.locator("#batch-status")).to_have_text(
            "2 of 3 photos not sent yet: too many uploads from your address just now. They will be sent by themselves.")
        expect(page.locator("#batch-status")).not_to_contain_text("refused")
        assert len(posted) == 3  # the first alone, then the two that were refused by the limit

        # The photos stay chosen (the picker is not emptied), and the page says when it tries again, counting down.
        assert page.eval_on_selector("#id_image", "input => Array.from(input.files).map(f => f.name)") == [
            "red.png", "text.jpg", "green.png"]
        countdown = page.locator("#batch-retry-text")
        expect(countdown).to_have_text(re.compile(r"^Trying again by itself in 4[3-5] seconds\.$"))
        first = int(re.search(r"\d+", countdown.inner_text()).group())
        expect(countdown).to_have_text(re.compile(rf"in {first - 1} seconds"), timeout=3_000)  # it counts down
        retry = page.get_by_role("button", name="Try again now")
        expect(retry).to_be_visible()
        expect(page.locator("#upload-button")).to_have_text("Upload the 2 photos not sent yet")
        expect(page.locator("#upload-button")).to_be_enabled()
        assert "{#" not in page.inner_text("body") and "{%" not in page.inner_text("body")
        shot(page, "desktop-batch-rate-limited")

        # The next window: "Try again now" sends only the two not sent yet; the bad file is then refused, with the
        # server's reason, and the good photo accepted.
        clock.now = WINDOW_START + 60 + 1
        settings.PETSITE_RATELIMIT_UPLOAD = "5/m"
        retry.click()
        expect(tiles.nth(2)).to_have_attribute("data-status", "pending")
        expect(tiles.nth(1)).to_have_attribute("data-status", "refused")
        expect(tiles.nth(1).locator(".answer")).to_have_text(REFUSAL)
        expect(tiles.nth(1).locator(".badge.failed")).to_have_text("Refused")
        expect(page.locator("#batch-retry")).to_be_hidden()
        expect(page.locator("#batch-status")).not_to_contain_text("not sent yet")
        assert len(posted) == 5
        assert sorted(Prediction.objects.values_list("original_filename", flat=True)) == ["green.png", "red.png"]
        ids = {tiles.nth(i).get_attribute("data-prediction") for i in (0, 2)}
        assert len(ids) == 2 and None not in ids
        shot(page, "desktop-batch-rate-limited-sent")


def test_a_rate_limited_batch_tries_again_by_itself_when_retry_after_has_passed(live_server, settings, clock, photos,
                                                                                 monkeypatch):
    from playwright.sync_api import expect

    settings.PETSITE_RATELIMIT_UPLOAD = "1/4s"
    clock.now = WINDOW_START + 1  # a 4-second window, 1 s in: Retry-After 3
    with chromium(monkeypatch, **DESKTOP) as page:
        posted = posts_to_home(page, live_server)
        page.goto(live_server.url + "/")
        page.set_input_files("#id_image", [photos["red.png"], photos["green.png"]])
        page.click("#upload-button")
        tiles = page.locator("#batch-grid > *")
        expect(tiles.nth(0)).to_have_attribute("data-status", "pending")
        expect(tiles.nth(1)).to_have_attribute("data-status", "waiting")
        expect(page.locator("#batch-retry-text")).to_have_text(re.compile(r"^Trying again by itself in [1-3] seconds?\.$"))
        clock.now = WINDOW_START + 4 + 1  # the server's next window
        # Nobody presses anything: the countdown runs out and the page sends the waiting photo.
        expect(tiles.nth(1)).to_have_attribute("data-status", "pending", timeout=8_000)
        expect(page.locator("#batch-retry")).to_be_hidden()
        assert len(posted) == 3
        assert Prediction.objects.count() == 2
        assert page.eval_on_selector("#id_image", "input => input.files.length") == 0  # all sent: the choice is done


def test_one_photo_over_the_limit_keeps_its_file_and_says_why_inline(live_server, settings, clock, photos, monkeypatch):
    from playwright.sync_api import expect

    settings.PETSITE_RATELIMIT_UPLOAD = "1/m"
    with chromium(monkeypatch, **DESKTOP) as page:
        page.goto(live_server.url + "/")
        page.set_input_files("#id_image", photos["red.png"])
        page.click("#upload-button")
        page.wait_for_url(re.compile(r".*/predictions/\d+/$"))
        page.goto(live_server.url + "/")
        page.set_input_files("#id_image", photos["green.png"])
        page.click("#upload-button")
        expect(page.locator("#upload-error")).to_have_text(
            "green.png: Too many uploads from your address: the limit is 1 per minute. Please try again in 45 seconds.")
        expect(page.locator("#preview")).to_be_visible()
        expect(page.locator("#preview-name")).to_have_text("green.png")
        assert page.eval_on_selector("#id_image", "input => input.files.length") == 1
        expect(page.locator("#upload-button")).to_be_enabled()
        assert Prediction.objects.count() == 1


def test_the_countdown_resends_only_rate_limited_photos_never_one_held_after_a_server_error(
        live_server, settings, clock, photos, monkeypatch):
    """A batch of three: the first photo is accepted (the limit, 1 per 4 s, is used up); of the two sent next together,
    one's upload fails with a server error (500) and the other is rate-limited (Retry-After 3). When the countdown runs
    out the page resends only the rate-limited one: after a server error the server may have stored the photo already,
    so sending it again by itself could make a duplicate. The person's "Try again now" sends it."""
    from playwright.sync_api import expect

    settings.PETSITE_RATELIMIT_UPLOAD = "1/4s"
    clock.now = WINDOW_START + 1  # a 4-second window, 1 s in: Retry-After 3
    home = live_server.url + "/"
    posted = Counter()  # POSTs to the upload form per file name (the two after the first go in parallel)
    error = "Not sent yet: The upload failed (error 500). Please try again."

    def file_name(request):
        match = re.search(rb'filename="([^"]+)"', request.post_data_buffer or b"")
        return match.group(1).decode() if match else None

    def upload(route, request):
        # The first POST of green.png gets a server error (it never reaches Django); everything else goes through.
        if request.method == "POST" and file_name(request) == "green.png" and posted["green.png"] == 1:
            route.fulfill(status=500, body="<h1>Server Error (500)</h1>", content_type="text/html")
        else:
            route.continue_()

    with chromium(monkeypatch, **DESKTOP) as page:
        page.on("request", lambda request: posted.update([file_name(request)])
                if request.method == "POST" and request.url == home else None)
        page.route(home, upload)
        page.goto(home)
        page.set_input_files("#id_image", [photos["red.png"], photos["green.png"], photos["blue.png"]])
        page.click("#upload-button")
        tiles = page.locator("#batch-grid > *")
        error_held, limited = tiles.nth(1), tiles.nth(2)
        expect(tiles.nth(0)).to_have_attribute("data-status", "pending")
        expect(error_held).to_have_attribute("data-status", "waiting")
        expect(error_held.locator(".answer")).to_have_text(error)
        expect(limited).to_have_attribute("data-status", "waiting")
        expect(limited.locator(".answer")).to_have_text("Not sent yet (too many uploads)")
        # Each kind is told apart: only the rate-limited one goes by itself.
        expect(page.locator("#batch-status")).to_have_text(
            "2 of 3 photos not sent yet: 1 held back by too many uploads (sent by themselves), 1 did not get through "
            "(press “Try again now”).")
        # A held tile's reason is shown whole (wrapped), not cut to one line.
        assert error_held.locator(".answer").evaluate("e => e.scrollWidth <= e.clientWidth && e.offsetHeight > 0")
        countdown = re.compile(r"^Trying again by itself in [1-3] seconds?\.$")
        expect(page.locator("#batch-retry-text")).to_have_text(countdown)
        assert posted == {"red.png": 1, "green.png": 1, "blue.png": 1}
        assert list(Prediction.objects.values_list("original_filename", flat=True)) == ["red.png"]

        clock.now = WINDOW_START + 4 + 1  # the server's next window
        # Nobody presses anything: the countdown runs out and the page sends the rate-limited photo, only that one.
        expect(limited).to_have_attribute("data-status", "pending", timeout=8_000)
        page.wait_for_timeout(1_500)  # time enough for a resend of the other to show
        assert posted == {"red.png": 1, "green.png": 1, "blue.png": 2}
        expect(error_held).to_have_attribute("data-status", "waiting")
        expect(error_held.locator(".answer")).to_have_text(error)
        expect(page.locator("#batch-retry-text")).to_have_text("")  # no countdown: it waits for the person
        retry = page.get_by_role("button", name="Try again now")
        expect(retry).to_be_visible()
        expect(page.locator("#upload-button")).to_have_text("Upload the photo not sent yet")
        assert sorted(Prediction.objects.values_list("original_filename", flat=True)) == ["blue.png", "red.png"]

        # The person asks: "Try again now" sends it, and the server answers.
        settings.PETSITE_RATELIMIT_UPLOAD = "5/4s"
        retry.click()
        expect(error_held).to_have_attribute("data-status", "pending")
        expect(page.locator("#batch-retry")).to_be_hidden()
        expect(page.locator("#batch-status")).not_to_contain_text("not sent yet")
        assert posted == {"red.png": 1, "green.png": 2, "blue.png": 2}
        assert sorted(Prediction.objects.values_list("original_filename", flat=True)) == [
            "blue.png", "green.png", "red.png"]
        ids = {tiles.nth(i).get_attribute("data-prediction") for i in (0, 1, 2)}
        assert len(ids) == 3 and None not in ids
        assert page.eval_on_selector("#id_image", "input => input.files.length") == 0  # all sent: the choice is done
