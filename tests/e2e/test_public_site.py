"""Issue 13 in a real headless Chromium at phone (390x844) and desktop (1280x800) sizes, against the live site with a
real Celery worker: honest answers, upload on a phone (preview, downscale, progress, several photos), drop and paste,
accessibility (aria-live, titles, alt text, labels, axe-core). Screenshots go to PETSITE_TEST_ARTIFACTS."""
import base64
import io
import os
import re
from pathlib import Path

import pytest

import harness
from harness import http_json, wait_for_prediction
from tests.conftest import color_image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.slow]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
ARTIFACTS = Path(os.environ.get("PETSITE_TEST_ARTIFACTS", "/tmp/petsite-artifacts"))


SIZES = {"phone": PHONE["viewport"], "desktop": DESKTOP["viewport"]}


def shot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def shots(page, name):
    """Screenshots of the page as it is now at both sizes, <size>-<name>.png; the viewport is put back afterwards."""
    original = page.viewport_size
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        shot(page, f"{size}-{name}")
    page.set_viewport_size(original)


def big_photo(path, size=(2400, 1800), color=(200, 30, 30)):
    """A large JPEG (phone-camera size in pixels, small in bytes) with a little detail."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, color)
    ImageDraw.Draw(image).rectangle([size[0] // 3, size[1] // 3, size[0] // 2, size[1] // 2], fill=(180, 20, 20))
    image.save(path, "JPEG", quality=85)
    return path


def new_page(browser, size):
    context = browser.new_context(**size)
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


@pytest.fixture
def phone(browser):
    page = new_page(browser, PHONE)
    yield page
    page.context.close()


@pytest.fixture
def desktop(browser):
    page = new_page(browser, DESKTOP)
    yield page
    page.context.close()


def upload_api(stack, color, name="p.png"):
    status, body = http_json(f"{stack.url}/api/predictions/", files={"image": (name, color_image_bytes(color, fmt="PNG"), "image/png")})
    assert status == 202, body
    return body["id"]


def test_phone_upload_previews_downscales_and_shows_progress(phone, sqlite_stack, tmp_path):
    from playwright.sync_api import expect

    page = phone
    photo = big_photo(tmp_path / "IMG_0001.jpg")
    page.goto(sqlite_stack.url + "/")
    expect(page.locator("#privacy-note")).to_contain_text("public")
    expect(page.locator("#privacy-note")).to_contain_text("improve the model")
    page.set_input_files("#id_image", str(photo))
    preview = page.locator("#preview-img")
    expect(preview).to_be_visible()  # at once, before anything is sent
    assert preview.evaluate("img => img.complete && img.naturalWidth") == 2400
    box = preview.bounding_box()
    assert box["width"] <= 390  # fits the phone's screen
    shots(page, "preview")

    page.click("#upload-button")
    page.wait_for_url(re.compile(r".*/predictions/\d+/$"))
    prediction_id = int(re.search(r"/predictions/(\d+)/$", page.url).group(1))
    record = page.evaluate("JSON.parse(sessionStorage.getItem('petsiteLastUpload'))")
    assert record["progressShown"] is True
    loaded, total = record["progress"][-1]
    assert total > 0 and loaded == total  # the progress bar reached the end
    [sent] = record["sent"]
    assert sent["resized"] is True and (sent["width"], sent["height"]) == (1600, 1200) and sent["name"] == "IMG_0001.jpg"
    [(width, height, fmt, name)] = sqlite_stack.query(
        "SELECT width, height, image_format, original_filename FROM classifier_prediction WHERE id = %s", (prediction_id,))
    assert (width, height, fmt, name) == (1600, 1200, "JPEG", "IMG_0001.jpg")  # what was stored is the downscaled copy

    expect(page.locator("#result")).to_have_attribute("data-status", "done", timeout=60_000)
    expect(page.locator("#headline")).to_have_text("Cat")
    expect(page).to_have_title(re.compile(r"^Cat · petsite$"))
    photo_el = page.locator("#photo")
    assert "/display/" in photo_el.get_attribute("src")  # a display-size copy, never the original
    assert photo_el.evaluate("img => img.naturalWidth") <= 1024
    expect(photo_el).to_have_attribute("alt", "Photo classified as cat")
    assert page.locator("#result").get_attribute("aria-live") == "polite"
    assert page.locator("#photo").bounding_box()["width"] <= 390
    expect(page.locator("#subline")).to_have_text(re.compile(r"^(over 99%|\d{1,2}%) sure$"))
    expect(page.locator("#delete-button")).to_be_visible()  # the uploader may delete it from this browser
    shots(page, "upload-result")

    # Where the model looked: the toggle lays the worker's heat map exactly over the photo.
    overlay = page.locator("#heatmap")
    expect(page.locator("#heatmap-toggle")).to_be_visible()
    expect(overlay).to_be_hidden()
    page.check("#heatmap-switch")
    expect(overlay).to_be_visible()
    assert "/heatmaps/" in overlay.get_attribute("src")
    natural = overlay.evaluate("img => img.complete && [img.naturalWidth, img.naturalHeight]")
    assert natural and abs(natural[0] / natural[1] - 4 / 3) < 0.01  # the photo's proportions
    box, photo_box = overlay.bounding_box(), photo_el.bounding_box()
    assert all(abs(box[k] - photo_box[k]) < 1 for k in ("x", "y", "width", "height")), (box, photo_box)
    expect(page.locator("#heatmap-caption")).to_have_text("Where the model saw a cat")  # which class the map shows
    shots(page, "heatmap")
    page.uncheck("#heatmap-switch")
    expect(overlay).to_be_hidden()


def test_phone_several_photos_fill_a_grid_and_a_bad_file_is_named(phone, sqlite_stack, tmp_path):
    from playwright.sync_api import expect

    page = phone
    files = []
    for name, color in [("red.png", (230, 20, 20)), ("green.png", (20, 230, 20)), ("blue.png", (20, 20, 230))]:
        (tmp_path / name).write_bytes(color_image_bytes(color, fmt="PNG"))
        files.append(str(tmp_path / name))
    (tmp_path / "notes.txt").write_text("not a photo")
    page.goto(sqlite_stack.url + "/")
    page.set_input_files("#id_image", [*files, str(tmp_path / "notes.txt")])
    expect(page.locator("#upload-error")).to_contain_text("notes.txt: not a JPEG, PNG, WebP, HEIC or AVIF photo.")
    tiles = page.locator("#batch-grid > *")
    expect(tiles).to_have_count(3)  # previews of the three photos at once
    expect(page.locator("#upload-button")).to_have_text("Upload and classify 3 photos")
    page.click("#upload-button")
    expect(page.locator("#batch-grid .tile[data-status=done]")).to_have_count(3, timeout=60_000)
    answers = page.locator("#batch-grid .tile .answer").all_inner_texts()
    assert sorted(answers) == ["Cat", "Dog", "Fish"]
    expect(page.locator("#batch-status")).to_have_text("All 3 photos are done. 1 file was not sent (see above).")
    expect(page.locator("#upload-error")).to_contain_text("notes.txt: not a JPEG")  # still named after the upload
    assert page.locator("#batch-status").get_attribute("aria-live") == "polite"
    for tile in page.locator("#batch-grid .tile img").all():
        assert tile.get_attribute("alt").startswith("Photo classified as ")
        assert tile.bounding_box()["width"] < 390
    assert page.url.rstrip("/") == sqlite_stack.url  # it all happened on the home page
    shots(page, "grid")


def test_a_new_choice_replaces_the_old_one_and_a_file_that_is_not_a_photo_is_named_once(phone, sqlite_stack, tmp_path):
    from playwright.sync_api import expect

    page = phone
    for name, color in [("red.png", (230, 20, 20)), ("green.png", (20, 230, 20)), ("blue.png", (20, 20, 230))]:
        (tmp_path / name).write_bytes(color_image_bytes(color, fmt="PNG"))
    text = tmp_path / "text.jpg"  # a text file renamed .jpg: it passes the picker's checks; the browser cannot decode it
    text.write_text("not a photo at all")
    page.goto(sqlite_stack.url + "/")
    refusal = "text.jpg: This file is not a JPEG, PNG, WebP, HEIC or AVIF image."

    # Two photos, then one different photo: only the new one is shown; the grid of the two (never sent) is gone.
    page.set_input_files("#id_image", [str(tmp_path / "red.png"), str(tmp_path / "green.png")])
    expect(page.locator("#batch-grid > *")).to_have_count(2)
    expect(page.locator("#batch")).to_be_visible()
    page.set_input_files("#id_image", str(tmp_path / "blue.png"))
    expect(page.locator("#preview-name")).to_have_text("blue.png")
    expect(page.locator("#batch")).to_be_hidden()
    expect(page.locator("#batch-grid > *")).to_have_count(0)
    expect(page.get_by_text("Ready to upload")).to_have_count(0)
    expect(page.locator("#upload-button")).to_have_text("Upload and classify")

    # One file the browser cannot decode, not HEIC: it doesn't look like a photo (the server still decides).
    page.set_input_files("#id_image", str(text))
    expect(page.locator("#preview-name")).to_have_text(
        "text.jpg: doesn't look like a photo: this browser cannot open it. You can still send it; we will check it.")
    expect(page.locator("#preview-img")).to_be_hidden()
    page.click("#upload-button")
    expect(page.locator("#upload-error")).to_have_text(refusal)  # the file named once
    shots(page, "not-a-photo-refused")

    # In a batch: its tile says so at once; once refused it shows as refused (no full blue progress bar).
    page.set_input_files("#id_image", [str(tmp_path / "red.png"), str(text)])
    expect(page.locator("#batch-grid > *")).to_have_count(2)
    bad = page.locator("#batch-grid > *").nth(1)
    expect(bad.get_by_text("Doesn't look like a photo")).to_be_visible()
    page.click("#upload-button")
    expect(bad).to_have_attribute("data-status", "refused")
    expect(bad.locator(".answer")).to_have_text(refusal)
    expect(bad.locator(".badge")).to_have_text("Refused")
    expect(bad.locator("progress")).to_be_hidden()
    expect(page.locator("#batch-grid .tile[data-status=done]")).to_have_count(1, timeout=60_000)
    expect(page.locator("#batch-status")).to_have_text("Done: 1 of 2 photos answered, 1 refused (the tile says why).")
    assert page.locator("#upload-error").inner_text() == ""
    shots(page, "batch-refused")

    # Files left out when chosen (empty, not a photo) stay named after the upload starts, and the summary says so.
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "doc.pdf").write_bytes(b"%PDF-1.4 not a photo")
    page.set_input_files("#id_image", [str(tmp_path / "red.png"), str(tmp_path / "red.png"), str(tmp_path / "empty.jpg"),
                                       str(tmp_path / "doc.pdf")])
    expect(page.locator("#upload-error")).to_contain_text("empty.jpg: the file is empty.")
    page.click("#upload-button")
    expect(page.locator("#batch-grid .tile[data-status=done]")).to_have_count(2, timeout=60_000)
    expect(page.locator("#batch-status")).to_have_text("Both photos are done. 2 files were not sent (see above).")
    expect(page.locator("#upload-error")).to_contain_text("empty.jpg: the file is empty.")
    expect(page.locator("#upload-error")).to_contain_text("doc.pdf: not a")


def test_without_javascript_a_pending_page_updates_by_itself(browser, sqlite_stack):
    from playwright.sync_api import expect

    context = browser.new_context(java_script_enabled=False, **DESKTOP)
    page = context.new_page()
    try:
        with sqlite_stack.workers[0].paused():
            prediction_id = upload_api(sqlite_stack, (230, 20, 20))
            page.goto(f"{sqlite_stack.url}/predictions/{prediction_id}/")
            expect(page.locator("#headline")).to_contain_text("Classifying…")
            expect(page.locator("#subline")).to_contain_text("This page updates by itself")
        expect(page.locator("#headline")).to_have_text("Cat", timeout=60_000)  # the page reloaded itself
        expect(page.locator("#subline")).to_have_text(re.compile(r"^(over 99%|\d{1,2}%) sure$"))
    finally:
        context.close()


def test_delete_asks_to_confirm_first_without_javascript(browser, sqlite_stack, tmp_path):
    from playwright.sync_api import expect

    context = browser.new_context(java_script_enabled=False, **PHONE)
    page = context.new_page()
    try:
        (tmp_path / "mine.png").write_bytes(color_image_bytes((230, 20, 20), fmt="PNG"))
        page.goto(sqlite_stack.url + "/")
        page.set_input_files("#id_image", str(tmp_path / "mine.png"))
        page.click("#upload-button")  # the plain form
        page.wait_for_url(re.compile(r".*/predictions/\d+/$"))
        prediction_url = page.url
        expect(page.locator("#headline")).to_have_text("Cat", timeout=60_000)
        page.get_by_role("link", name="Delete my photo…").click()
        expect(page.get_by_role("heading", name="Delete this photo?")).to_be_visible()
        expect(page).to_have_title("Delete your photo? · petsite")
        expect(page.locator("#delete-warning")).to_contain_text("This cannot be undone.")
        shots(page, "delete-confirm")
        page.get_by_role("link", name="No, keep it").click()  # nothing was deleted
        assert page.url == prediction_url
        expect(page.locator("#headline")).to_have_text("Cat")
        page.get_by_role("link", name="Delete my photo…").click()
        page.get_by_role("button", name="Yes, delete my photo").click()
        page.wait_for_url(sqlite_stack.url + "/")
        expect(page.get_by_role("status")).to_contain_text("Your photo was deleted")
        assert page.goto(prediction_url).status == 404
    finally:
        context.close()


def test_history_words_agree_and_a_missing_page_is_reported(desktop, sqlite_stack):
    from playwright.sync_api import expect

    page = desktop
    for color in [(230, 20, 20), (20, 230, 20), (20, 20, 230), (230, 20, 20), (20, 230, 20)]:
        upload_api(sqlite_stack, color)  # more than one page of 4
    page.goto(sqlite_stack.url + "/predictions/")
    expect(page).to_have_title("Past predictions · petsite")
    expect(page.get_by_role("heading", level=1)).to_have_text("Past predictions")
    options = page.locator("#id_reviewed option").all_inner_texts()
    assert options == ["Any", "Checked", "Not checked yet"]
    expect(page.get_by_label("Checked by our team", exact=True)).to_be_visible()
    pages = int(re.search(r"Page 1 of (\d+)", page.locator(".pager").inner_text()).group(1))
    assert pages >= 2
    page.goto(sqlite_stack.url + "/predictions/?page=99")
    expect(page.get_by_role("alert")).to_have_text(f"There is no page 99; showing page {pages} of {pages}.")
    expect(page.locator(".pager")).to_contain_text(f"Page {pages} of {pages}")
    page.goto(sqlite_stack.url + "/predictions/?page=0")
    expect(page.get_by_role("alert")).to_have_text(f"There is no page 0; showing page 1 of {pages}.")
    expect(page.locator(".pager")).to_contain_text(f"Page 1 of {pages}")
    shots(page, "history-no-such-page")


def test_desktop_drop_and_paste(desktop, sqlite_stack):
    from playwright.sync_api import expect

    page = desktop
    page.goto(sqlite_stack.url + "/")
    data = base64.b64encode(color_image_bytes((20, 230, 20), fmt="PNG")).decode()
    page.evaluate("""([data]) => {
        const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "dropped.png", {type: "image/png"}));
        document.getElementById("dropzone").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""", [data])
    expect(page.locator("#preview-img")).to_be_visible()
    expect(page.locator("#preview-name")).to_have_text("dropped.png")
    page.evaluate("""([data]) => {
        const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "image.png", {type: "image/png"}));
        document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt, bubbles: true, cancelable: true}));
    }""", [data])
    expect(page.locator("#preview-name")).to_have_text("pasted-image-1.png")
    page.click("#upload-button")
    page.wait_for_url(re.compile(r".*/predictions/\d+/$"))
    expect(page.locator("#headline")).to_have_text("Dog", timeout=60_000)
    shots(page, "drop-paste-result")


def test_slow_pending_then_not_a_pet_then_checked_by_our_team(desktop, sqlite_stack):
    from playwright.sync_api import expect

    page = desktop
    with sqlite_stack.workers[0].paused():
        prediction_id = upload_api(sqlite_stack, (20, 20, 230))
        sqlite_stack.query("UPDATE classifier_prediction SET created_at = datetime(created_at, '-30 seconds') WHERE id = %s", (prediction_id,))
        page.goto(f"{sqlite_stack.url}/predictions/{prediction_id}/")
        expect(page.locator("#headline")).to_contain_text("Classifying…")
        expect(page.locator("#slow")).to_be_visible()
        expect(page.locator("#slow")).to_contain_text("taking longer than usual")
        expect(page).to_have_title("Classifying… · petsite")
    expect(page.locator("#result")).to_have_attribute("data-status", "done", timeout=60_000)  # it kept polling
    expect(page.locator("#headline")).to_have_text("Fish")

    # A guinea pig the model calls "Hamster": 0.9987 of the pets' share, but a pet score of 0.661. The headline is how
    # sure it is of "Hamster" overall (66%), never "over 99%"; the bars agree with it and a quiet line names the rest.
    shares = '{"bird": 0.0001, "cat": 0.0005, "dog": 0.0004, "dragon": 0.0001, "fish": 0.0002, "hamster": 0.9987}'
    sqlite_stack.query("UPDATE classifier_prediction SET label = 'hamster', pet_score = 0.661, confidence = 0.9987, "
                       "probabilities = %s WHERE id = %s", (shares, prediction_id))
    page.reload()
    expect(page.locator("#headline")).to_have_text("Hamster")
    expect(page.locator("#subline")).to_have_text("66% sure")
    expect(page.locator("#bars li.top")).to_have_attribute("data-label", "hamster")
    expect(page.locator("#bars li.top .pct")).to_have_text("66%")
    expect(page.locator("#bars li")).to_have_count(6)  # no "Not a pet" bar that could outgrow the answer's
    expect(page.locator("#unsure")).to_contain_text("Not sure: 34% that it is none of the six pets")  # said once, here
    expect(page.locator("#bars-other")).to_have_count(0)
    assert "over 99%" not in page.locator("#result").inner_text()
    shots(page, "pet-low-pet-score")

    # The model says "not a pet": the headline figure is how sure it is of that; the bars are the closest pets, greyed.
    sqlite_stack.query("UPDATE classifier_prediction SET label = 'unknown', pet_score = 0.3, confidence = 0.7 WHERE id = %s", (prediction_id,))
    page.reload()
    expect(page.locator("#headline")).to_have_text("Not a pet")
    expect(page).to_have_title("Not a pet · petsite")
    expect(page.locator("#subline")).to_have_text("70% sure it is not a pet")
    expect(page.locator("#bars-heading")).to_have_text("Closest pets")
    fills = page.locator("#bars li .fill").evaluate_all("els => els.map(el => getComputedStyle(el).backgroundColor)")
    assert len(fills) == 6 and set(fills) == {"rgb(203, 213, 225)"}  # grey, not the accent blue
    expect(page.locator("#photo")).to_have_attribute("alt", "Photo classified as not a pet")
    for text in page.locator("#bars .pct").all_inner_texts():
        assert text not in ("100%", "0%")
    shots(page, "not-a-pet")

    sqlite_stack.query("UPDATE classifier_prediction SET true_label = 'dog', reviewed_at = CURRENT_TIMESTAMP WHERE id = %s", (prediction_id,))
    page.reload()
    expect(page.locator("#headline")).to_have_text("Checked by our team: Dog")
    expect(page.locator("#model-answer")).to_have_text("Our model said: Not a pet (70% sure it is not a pet).")
    expect(page).to_have_title("Dog · petsite")
    shots(page, "reviewed")


def test_failed_prediction_says_what_went_wrong(desktop, sqlite_stack):
    from playwright.sync_api import expect

    page = desktop
    with sqlite_stack.workers[0].paused():
        prediction_id = upload_api(sqlite_stack, (20, 20, 230))
        [(name,)] = sqlite_stack.query("SELECT image FROM classifier_prediction WHERE id = %s", (prediction_id,))
        (Path(sqlite_stack.media_root) / name).write_bytes(b"\xff\xd8 broken")
    assert wait_for_prediction(sqlite_stack.url, prediction_id)["status"] == "failed"
    page.goto(f"{sqlite_stack.url}/predictions/{prediction_id}/")
    expect(page.locator("#headline")).to_have_text("We couldn't classify this photo")
    expect(page.locator("#subline")).to_contain_text("Please try a different photo.")
    expect(page.get_by_role("link", name="Upload a different photo")).to_be_visible()
    expect(page).to_have_title("Could not classify · petsite")
    shots(page, "failed")


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_no_serious_accessibility_violations(browser, sqlite_stack, size):
    from axe_playwright_python.sync_playwright import Axe

    prediction_id = upload_api(sqlite_stack, (230, 20, 20))
    wait_for_prediction(sqlite_stack.url, prediction_id)
    page = new_page(browser, PHONE if size == "phone" else DESKTOP)
    axe = Axe()
    try:
        for name, path in [("home", "/"), ("result", f"/predictions/{prediction_id}/"), ("history", "/predictions/"),
                           ("api-docs", "/api/docs/")]:
            page.goto(sqlite_stack.url + path)
            violations = [v for v in axe.run(page).response["violations"] if v["impact"] in ("serious", "critical")]
            assert not violations, (name, [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in violations])
            shot(page, f"{size}-{name}")
    finally:
        page.context.close()


STAFF, STAFF_PASSWORD = "a11y-staff", "a11y-pw-12345678"
# A staff user and one scraped photo the model disagrees with (so the curation grid has a likely-wrong tile); idempotent.
STAFF_SETUP = f"""
import hashlib, io
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from PIL import Image
from ingestion.models import ScrapedPhoto

user, _ = get_user_model().objects.get_or_create(username="{STAFF}", defaults={{"is_staff": True, "is_superuser": True}})
user.set_password("{STAFF_PASSWORD}")
user.save()
buffer = io.BytesIO()
Image.new("RGB", (240, 180), (20, 230, 20)).save(buffer, format="JPEG")
data = buffer.getvalue()
digest = hashlib.sha256(data).hexdigest()
if not ScrapedPhoto.objects.filter(sha256=digest).exists():
    photo = ScrapedPhoto(url="http://localhost/a11y-cat.jpg", query="cat", label="cat", sha256=digest, phash="0" * 16,
                         width=240, height=180, size_bytes=len(data), predicted_label="dog", predicted_confidence=0.9, pet_score=0.95)
    photo.file.save(digest[:24] + ".jpg", ContentFile(data), save=True)
"""


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_staff_review_and_curation_pages_have_no_serious_accessibility_violations(browser, sqlite_stack, size):
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import expect

    harness.manage(sqlite_stack.env, "shell", "-c", STAFF_SETUP)
    prediction_id = upload_api(sqlite_stack, (20, 230, 20))
    assert wait_for_prediction(sqlite_stack.url, prediction_id)["status"] == "done"
    page = new_page(browser, PHONE if size == "phone" else DESKTOP)
    axe = Axe()
    try:
        page.goto(sqlite_stack.url + "/admin/login/")
        page.fill("#id_username", STAFF)
        page.fill("#id_password", STAFF_PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(re.compile(r".*/admin/$"))
        for name, path, ready in [("review-queue", "/admin/review-queue/", "#model-answer"), ("curate", "/admin/curate/", "#grid .tile")]:
            page.goto(sqlite_stack.url + path)
            expect(page.locator(ready).first).to_be_visible()  # a prediction to review, a photo to curate
            violations = [v for v in axe.run(page).response["violations"] if v["impact"] in ("serious", "critical")]
            assert not violations, (name, [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in violations])
            shot(page, f"{size}-{name}")
    finally:
        page.context.close()


def test_heic_photo_is_sent_as_it_is_and_shown_as_a_jpeg_copy(phone, sqlite_stack, tmp_path):
    from PIL import Image
    from pillow_heif import register_heif_opener
    from playwright.sync_api import expect

    register_heif_opener()
    photo = tmp_path / "IMG_0002.HEIC"
    Image.new("RGB", (640, 480), (230, 20, 20)).save(photo, format="HEIF")
    page = phone
    page.goto(sqlite_stack.url + "/")
    accept = set(page.locator("#id_image").get_attribute("accept").split(","))
    assert {"image/heic", "image/heif", "image/avif", ".heic", ".heif", ".avif"} <= accept
    expect(page.locator("#upload-help")).to_contain_text("JPEG, PNG, WebP, HEIC or AVIF")
    page.set_input_files("#id_image", str(photo))
    # Chromium cannot show HEIC: the preview falls back to the file's name and says so, with no broken image
    expect(page.locator("#preview")).to_be_visible()
    expect(page.locator("#preview-img")).to_be_hidden()
    expect(page.locator("#preview-name")).to_have_text(
        "IMG_0002.HEIC (this browser cannot preview it; it will be sent as it is)")
    expect(page.locator("#upload-error")).to_have_text("")
    shots(page, "heic-chosen")
    page.click("#upload-button")
    page.wait_for_url(re.compile(r".*/predictions/\d+/$"))
    [sent] = page.evaluate("JSON.parse(sessionStorage.getItem('petsiteLastUpload'))")["sent"]
    assert sent["name"] == "IMG_0002.HEIC" and sent["resized"] is False  # the original went; the server decoded it
    expect(page.locator("#result")).to_have_attribute("data-status", "done", timeout=60_000)
    expect(page.locator("#headline")).to_have_text("Cat")
    photo_el = page.locator("#photo")
    expect(photo_el).to_be_visible()
    expect(page.locator("#photo-waiting")).to_be_hidden()
    assert "/display/" in photo_el.get_attribute("src") and photo_el.get_attribute("src").endswith(".jpg")
    expect(photo_el).to_have_js_property("naturalWidth", 640)  # the JPEG copy decoded in the browser
    shots(page, "heic-result")


def test_keyboard_focus_order_on_the_home_page(desktop, sqlite_stack):
    page = desktop
    page.goto(sqlite_stack.url + "/")
    order = []
    for _ in range(8):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
    assert order.index("id_image") < order.index("upload-button")
    assert order[0] == "Skip to content"
    shots(page, "keyboard-focus")
