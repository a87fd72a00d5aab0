"""The pages in a real headless Chromium (Debian's), against the live site with a real Celery worker."""
import re
import time

import pytest

from harness import http_json, wait_for_prediction
from tests.conftest import color_image_bytes, pet_photos

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.slow]

DISPLAY = {"bird": "Bird", "cat": "Cat", "dog": "Dog", "dragon": "Bearded dragon", "fish": "Fish", "hamster": "Hamster"}
SCREENSHOT = "/tmp/petsite-prediction.png"


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def tile_ids(page):
    return [int(x) for x in page.locator("#history-grid .tile").evaluate_all("els => els.map(e => e.dataset.prediction)")]


def tile_labels(page):
    return page.locator("#history-grid .tile").evaluate_all("els => els.map(e => e.dataset.label)")


def test_upload_shows_classifying_then_the_result_without_reloading(page, sqlite_stack):
    from playwright.sync_api import expect

    photo = pet_photos("cat", 1)[0]
    worker = sqlite_stack.workers[0]
    navigations = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)

    page.goto(sqlite_stack.url + "/")
    expect(page.locator("h1")).to_have_text("What pet is in your photo?")
    page.set_input_files("#id_image", str(photo))
    with worker.paused():  # hold the worker so the pending state is certainly seen
        page.click("#upload-button")
        page.wait_for_url(re.compile(r".*/predictions/\d+/$"))
        prediction_id = int(re.search(r"/predictions/(\d+)/$", page.url).group(1))
        expect(page.locator("#headline")).to_contain_text("Classifying…")
        expect(page.locator("#result")).to_have_attribute("data-status", "pending")
        assert page.locator("#bars li").count() == 0
        page.evaluate("window.__sameDocument = 'yes'")
        navigations.clear()
        time.sleep(1.5)  # the page polls meanwhile; still pending
        expect(page.locator("#headline")).to_contain_text("Classifying…")

    expect(page.locator("#result")).to_have_attribute("data-status", "done", timeout=60_000)
    api = wait_for_prediction(sqlite_stack.url, prediction_id)
    assert api["status"] == "done"
    name = DISPLAY[api["label"]]  # under half sure (the tiny colour model often is), the headline hedges
    expect(page.locator("#headline")).to_have_text(name if api["confidence"] >= 0.5 else f"Perhaps a {name.lower()}")
    # The tiny model has no pet-score output: no pet score is stored and the page shows the plain shares (not share x
    # share, nor a "Not a pet" bar it can never answer).
    assert api["pet_score"] is None
    percent = round(api["confidence"] * 100)
    expect(page.locator("#subline")).to_have_text(
        "over 99% sure" if percent >= 100 else "under 1% sure" if percent <= 0 else f"{percent}% sure")
    expect(page.locator("#result")).to_have_attribute("aria-live", "polite")
    expect(page).to_have_title(f"{page.locator('#headline').inner_text()} · petsite")
    expect(page.locator("#bars-heading")).to_have_text("Among the six pets")
    bars = page.locator("#bars li")
    expect(bars).to_have_count(6)
    assert bars.evaluate_all("els => els.map(e => e.dataset.label)") == [*DISPLAY]
    expect(page.locator(f'#bars li.top[data-label="{api["label"]}"]')).to_have_count(1)
    expect(page.locator("#meta")).to_have_text("Answered by model version tiny-test")
    page.wait_for_timeout(600)  # the bars animate their width
    for label, probability in api["probabilities"].items():
        track = page.locator(f'#bars li[data-label="{label}"] .track').bounding_box()
        fill = page.locator(f'#bars li[data-label="{label}"] .fill').bounding_box()
        # The bar is really drawn, as long as its share of the track.
        assert fill["width"] / track["width"] == pytest.approx(round(probability * 100) / 100, abs=0.02), label
    # No reload and no navigation happened: the same document updated itself.
    assert page.evaluate("window.__sameDocument") == "yes"
    assert navigations == []
    assert page.locator("#photo").evaluate("img => img.complete && img.naturalWidth > 0")
    page.wait_for_timeout(500)  # let the bar transition finish for the screenshot
    page.screenshot(path=SCREENSHOT, full_page=True)

    page.click("text=History")
    page.wait_for_url(re.compile(r".*/predictions/$"))
    assert tile_ids(page)[0] == prediction_id  # newest first
    page.click(f'#history-grid .tile[data-prediction="{prediction_id}"]')
    page.wait_for_url(re.compile(rf".*/predictions/{prediction_id}/$"))
    expect(page.locator("#result")).to_have_attribute("data-status", "done")
    page.screenshot(path="/tmp/petsite-prediction-reloaded.png", full_page=True)


def test_history_filters_by_class_and_review_and_pages(page, sqlite_stack):
    from playwright.sync_api import expect

    dogs = []
    for shade in range(5):  # green photos: the tiny model calls them dogs; page size is 4
        status, body = http_json(f"{sqlite_stack.url}/api/predictions/",
                                 files={"image": (f"g{shade}.png", color_image_bytes((10, 200 + shade * 10, 10), fmt="PNG"), "image/png")})
        assert status == 202, body
        dogs.append(body["id"])
    for prediction_id in dogs:
        assert wait_for_prediction(sqlite_stack.url, prediction_id)["label"] == "dog"
    reviewed = dogs[1]
    sqlite_stack.query("UPDATE classifier_prediction SET true_label = 'dog', reviewed_at = CURRENT_TIMESTAMP WHERE id = %s", (reviewed,))

    page.goto(sqlite_stack.url + "/predictions/")
    assert tile_ids(page) == dogs[::-1][:4]
    expect(page.locator(".pager")).to_contain_text("Page 1 of")

    page.select_option("#id_label", "dog")
    page.wait_for_timeout(300)
    assert "label=" not in page.url  # choosing (or an arrow key) does not reload: the Filter button applies it
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r".*label=dog.*"))
    first = tile_ids(page)
    assert first == dogs[::-1][:4] and set(tile_labels(page)) == {"dog"}
    page.click("text=Older →")
    page.wait_for_url(re.compile(r".*label=dog.*page=2.*"))
    second = tile_ids(page)
    assert dogs[0] in second and not set(first) & set(second)
    assert set(tile_labels(page)) == {"dog"}
    expect(page.locator("#id_label")).to_have_value("dog")
    page.click("text=← Newer")
    page.wait_for_url(re.compile(r".*page=1.*"))
    assert tile_ids(page) == first

    page.select_option("#id_label", "fish")
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r".*label=fish.*"))
    assert not set(tile_ids(page)) & set(dogs)

    page.goto(sqlite_stack.url + "/predictions/")
    page.select_option("#id_reviewed", "yes")
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r".*reviewed=yes.*"))
    checked = tile_ids(page)  # other tests on this stack may have reviewed older predictions
    assert checked[0] == reviewed and not set(checked) & (set(dogs) - {reviewed})
    expect(page.locator(f'.tile[data-prediction="{reviewed}"] .badge.reviewed')).to_contain_text("Checked")
    expect(page.locator(f'.tile[data-prediction="{reviewed}"] .answer')).to_have_text("Dog")

    page.select_option("#id_reviewed", "no")
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r".*reviewed=no.*"))
    ids = tile_ids(page)
    assert reviewed not in ids and ids[:3] == [dogs[4], dogs[3], dogs[2]]
    expect(page.locator("#history-grid .badge.reviewed")).to_have_count(0)
    page.screenshot(path="/tmp/petsite-history.png", full_page=True)
