"""The public pages' fixes in a real headless Chromium (Debian's) against Django's live server: the heat map's caption
and key show with the heat map only; a file the browser cannot open loses its grey note once the server refused it;
on a phone the bars use the width and history tiles keep one height. Screenshots go to PETSITE_TEST_ARTIFACTS."""
import io
import os
from pathlib import Path

import pytest
from django.utils import timezone
from PIL import Image

from classifier import services
from classifier.models import Prediction
from tests.classifier.conftest import chromium, upload_file

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
ARTIFACTS = Path(os.environ.get("PETSITE_TEST_ARTIFACTS", "/tmp/petsite-artifacts"))


def shot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def photo_png(size=(640, 480)):
    image = Image.new("RGB", size, (30, 30, 30))
    image.paste((230, 20, 20), (0, 0, size[0] // 2, size[1]))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def classified(settings, tiny_maps_model_path, monkeypatch):
    """A photo classified by the tiny model with class maps: display copy, thumbnail and heat map made."""
    settings.PETSITE_MODEL_PATH = tiny_maps_model_path
    monkeypatch.setattr(services, "dispatch_on_commit", lambda *args: None)
    prediction = services.submit_upload(upload_file("half.png", photo_png(), "image/png"))
    prediction = services.classify_prediction(prediction.pk)
    assert prediction.status == "done" and prediction.heatmap
    return prediction


def set_answer(prediction, **fields):
    Prediction.objects.filter(pk=prediction.pk).update(**fields)


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_heat_map_caption_and_key_show_with_the_heat_map_only(live_server, classified, monkeypatch, size):
    from playwright.sync_api import expect

    set_answer(classified, label="fish", pet_score=0.95, confidence=0.9,
               probabilities={"bird": 0.02, "cat": 0.02, "dog": 0.02, "dragon": 0.02, "fish": 0.9, "hamster": 0.02})
    with chromium(monkeypatch, **(PHONE if size == "phone" else DESKTOP)) as page:
        page.goto(live_server.url + classified.get_absolute_url())
        expect(page.locator("#heatmap-toggle")).to_be_visible()
        expect(page.locator("#heatmap-switch")).not_to_be_checked()
        expect(page.locator("#heatmap")).to_be_hidden()
        expect(page.locator("#heatmap-caption")).to_be_hidden()  # no "Where the model saw a fish" without the map
        expect(page.locator("#heatmap-legend")).to_be_hidden()
        shot(page, f"{size}-heatmap-off")
        page.check("#heatmap-switch")
        expect(page.locator("#heatmap")).to_be_visible()
        expect(page.locator("#heatmap-caption")).to_have_text("Where the model saw a fish")
        expect(page.locator("#heatmap-legend")).to_contain_text("The warmer the colour, the more that part of the photo counted")
        shot(page, f"{size}-heatmap-on")
        page.uncheck("#heatmap-switch")
        expect(page.locator("#heatmap")).to_be_hidden()
        expect(page.locator("#heatmap-caption")).to_be_hidden()


def test_not_a_pet_shows_its_closest_pets_sorted_or_one_sentence_and_no_heat_map_of_a_pet_it_did_not_see(
        live_server, classified, monkeypatch):
    from playwright.sync_api import expect

    shares = {"bird": 0.1, "cat": 0.3, "dog": 0.05, "dragon": 0.4, "fish": 0.1, "hamster": 0.05}
    set_answer(classified, label="unknown", pet_score=0.5, confidence=0.5, probabilities=shares)
    with chromium(monkeypatch, **DESKTOP) as page:
        page.goto(live_server.url + classified.get_absolute_url())
        assert page.locator("#bars li").evaluate_all("els => els.map(e => e.dataset.label)") == [
            "dragon", "cat", "bird", "fish", "dog", "hamster"]
        page.check("#heatmap-switch")
        expect(page.locator("#heatmap-caption")).to_have_text("Where the photo looked most like a bearded dragon")
        shot(page, "desktop-not-a-pet-sorted")

        set_answer(classified, pet_score=0.003, confidence=0.5)  # every pet under 1%
        page.reload()
        expect(page.locator("#headline")).to_have_text("Not a pet")
        expect(page.locator("#bars-note")).to_have_text(
            "The model saw no sign of any of the six pets in this photo: each is under 1%.")
        expect(page.locator("#bars li")).to_have_count(0)
        page.wait_for_timeout(500)  # the script asked the API for the heat map meanwhile
        expect(page.locator("#heatmap-toggle")).to_be_hidden()
        expect(page.locator("#heatmap")).to_be_hidden()
        shot(page, "desktop-not-a-pet-faint")


def test_a_file_the_browser_cannot_open_loses_its_grey_note_once_the_server_refused_it(live_server, monkeypatch, tmp_path):
    from playwright.sync_api import expect

    text = tmp_path / "notes.jpg"
    text.write_text("not a photo at all")
    with chromium(monkeypatch, **PHONE) as page:
        page.goto(live_server.url + "/")
        page.set_input_files("#id_image", str(text))
        expect(page.locator("#preview-name")).to_contain_text("doesn't look like a photo")
        page.click("#upload-button")
        expect(page.locator("#upload-error")).to_have_text("notes.jpg: This file is not a JPEG, PNG, WebP, HEIC or AVIF image.")
        expect(page.get_by_text("You can still send it; we will check it.")).to_have_count(0)
        expect(page.locator("#preview")).to_be_hidden()
        shot(page, "phone-not-a-photo-refused")


def test_on_a_phone_the_bars_use_the_width_and_history_tiles_keep_one_height(live_server, classified, monkeypatch):
    set_answer(classified, label="dragon", pet_score=0.999, confidence=0.999,
               probabilities={"bird": 0.0002, "cat": 0.0002, "dog": 0.0002, "dragon": 0.999, "fish": 0.0002, "hamster": 0.0002})
    # Newest first, two a row: [bird, dragon], [fish, dog], [cat, dragon]: a row without a bearded dragon. The same
    # photo's files for every one: only the answers differ.
    for label in ["cat", "dog", "fish", "dragon", "bird"]:
        Prediction.objects.create(image=classified.image.name, thumbnail=classified.thumbnail.name,
                                  display_image=classified.display_image.name, width=classified.width, height=classified.height,
                                  status="done", label=label, pet_score=0.999, confidence=0.999,
                                  probabilities={label: 1.0}, model_version="v", completed_at=timezone.now())
    with chromium(monkeypatch, **PHONE) as page:
        page.goto(live_server.url + classified.get_absolute_url())
        page.wait_for_timeout(600)  # the bars animate their width
        card = page.locator("#result").bounding_box()
        assert card["y"] < page.locator("#photo").bounding_box()["y"], "a phone shows the answer above the photo"
        assert page.locator("#headline").bounding_box()["y"] < 844
        for track in page.locator("#bars .track").all():
            assert track.bounding_box()["width"] > 0.8 * card["width"], "a phone's bar spans the card"
        shot(page, "phone-result-bars")

        page.goto(live_server.url + "/predictions/")
        tiles = page.locator("#history-grid .tile")
        assert tiles.count() == 6
        assert "Bearded dragon" in page.locator("#history-grid").inner_text()
        heights = {round(tile.bounding_box()["height"]) for tile in tiles.all()}
        assert len(heights) == 1, heights
        shot(page, "phone-history")
    with chromium(monkeypatch, **DESKTOP) as page:
        page.goto(live_server.url + "/predictions/")
        heights = {round(tile.bounding_box()["height"]) for tile in page.locator("#history-grid .tile").all()}
        assert len(heights) == 1, heights
        shot(page, "desktop-history")
        page.goto(live_server.url + classified.get_absolute_url())
        shot(page, "desktop-result-bars")
