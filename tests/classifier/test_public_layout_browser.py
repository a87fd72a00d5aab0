"""What a new visitor sees on the public pages, in a real headless Chromium (Debian's) against Django's live server,
with real pet photos (../shared/data/pets-home): on a phone the result page shows the photo with the answer on the
first screen; tile captions keep the answer and its figure on one line; the home page's "Recently classified" fills
its rows; a tile shows the whole photo, not a square crop of it; the API docs never break a short code word. Screenshots
go to PETSITE_TEST_ARTIFACTS."""
import io
from pathlib import Path

import pytest
from django.utils import timezone
from PIL import Image

from classifier import selectors, services
from classifier.models import Prediction
from tests.classifier.conftest import upload_file
from tests.classifier.test_public_pages_browser import ARTIFACTS, DESKTOP, PHONE, chromium, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHOTOS = Path(__file__).resolve().parents[3] / "shared" / "data" / "pets-home"
TABLET = {"viewport": {"width": 768, "height": 1024}, "is_mobile": True, "has_touch": True}
SIZES = {"desktop": DESKTOP, "phone": PHONE, "tablet": TABLET}
DRAGON = {"label": "dragon", "pet_score": 0.999, "confidence": 0.999,
          "probabilities": {"bird": 0.0002, "cat": 0.0002, "dog": 0.0002, "dragon": 0.999, "fish": 0.0002, "hamster": 0.0002}}


def photo(name):
    path = PHOTOS / name.split("_")[0] / name
    if not path.exists():
        pytest.skip(f"{path} is not here (../shared/data/pets-home)")
    return path


@pytest.fixture
def classify(settings, tiny_maps_model_path, monkeypatch):
    """classify(name, **answer): a real photo uploaded and classified by the tiny model with class maps (display copy,
    thumbnail and heat map made), then given `answer` (label, pet_score, confidence, probabilities)."""
    settings.PETSITE_MODEL_PATH = tiny_maps_model_path
    monkeypatch.setattr(services, "dispatch_on_commit", lambda *args: None)

    def make(name, **answer):
        prediction = services.submit_upload(upload_file(name, photo(name).read_bytes(), "image/jpeg"))
        prediction = services.classify_prediction(prediction.pk)
        assert prediction.status == "done" and prediction.heatmap
        Prediction.objects.filter(pk=prediction.pk).update(model_version="default-openset-6", **answer)
        prediction.refresh_from_db()
        return prediction

    return make


def copy_of(prediction, **answer):
    """Another finished prediction showing the same photo's files (only the answer differs)."""
    return Prediction.objects.create(
        image=prediction.image.name, thumbnail=prediction.thumbnail.name, display_image=prediction.display_image.name,
        width=prediction.width, height=prediction.height, status="done", model_version="v", completed_at=timezone.now(),
        **{"label": "cat", "pet_score": 0.97, "confidence": 0.97, "probabilities": {"cat": 1.0}, **answer})


def box(page, selector):
    found = page.locator(selector).bounding_box()
    assert found, f"{selector} is not on the page"
    return found


# 1. On a phone the result page shows the photo together with the answer on the first screen; a computer keeps the photo
# on the left beside the answer.

UNSURE = {"label": "dog", "pet_score": 0.98, "confidence": 0.55,
          "probabilities": {"bird": 0.01, "cat": 0.42, "dog": 0.55, "dragon": 0.005, "fish": 0.01, "hamster": 0.005}}
NOT_A_PET = {"label": "unknown", "pet_score": 0.3, "confidence": 0.7,
             "probabilities": {"bird": 0.1, "cat": 0.3, "dog": 0.05, "dragon": 0.4, "fish": 0.1, "hamster": 0.05}}


@pytest.mark.parametrize("name, answer", [
    ("bird_home_29.jpg", {"label": "bird", "pet_score": 0.99, "confidence": 0.98,
                          "probabilities": {"bird": 0.98, "cat": 0.004, "dog": 0.004, "dragon": 0.004, "fish": 0.004, "hamster": 0.004}}),
    ("bird_home_13.jpg", UNSURE),  # a portrait photo, and an unsure answer's extra line
    ("dog_home_108.jpg", NOT_A_PET),  # portrait, "Not a pet" with its longer words
], ids=["landscape", "portrait-unsure", "portrait-not-a-pet"])
def test_on_a_phone_the_photo_is_on_the_first_screen_with_the_answer(live_server, classify, monkeypatch, name, answer):
    from playwright.sync_api import expect

    prediction = classify(name, **answer)
    with chromium(monkeypatch, **PHONE) as page:
        page.goto(live_server.url + prediction.get_absolute_url())
        expect(page.locator("#heatmap-toggle")).to_be_visible()
        shot(page, f"phone-result-{name[:-4]}")
        page.screenshot(path=str(ARTIFACTS / f"phone-result-{name[:-4]}-first-screen.png"))  # the first screen only
        fold = PHONE["viewport"]["height"]
        headline, figure = box(page, "#headline"), box(page, "#subline")
        assert headline["y"] >= 0 and figure["y"] + figure["height"] <= fold, "the answer and its figure are on the first screen"
        picture = box(page, "#photo")
        assert picture["y"] + picture["height"] <= fold, f"the whole photo is on the first screen: {picture}"
        assert max(picture["width"], picture["height"]) >= 300, f"a photo a person can see: {picture}"
        toggle = box(page, "#heatmap-toggle")
        assert toggle["y"] + toggle["height"] <= fold, "'Show where the model looked' is on the first screen"
        assert headline["y"] < picture["y"], "the answer first"
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]
        page.check("#heatmap-switch")  # the heat map still lies exactly over the (smaller) photo
        overlay = box(page, "#heatmap")
        for key in ("x", "y", "width", "height"):
            assert overlay[key] == pytest.approx(picture[key], abs=1), key
        # The figures stay on the same page, below the photo.
        expect(page.locator("#bars li")).to_have_count(6)
        assert box(page, "#bars")["y"] > picture["y"]
        expect(page.locator("#meta")).to_be_visible()


def test_on_a_computer_the_photo_stays_beside_the_answer(live_server, classify, monkeypatch):
    prediction = classify("bird_home_29.jpg", **UNSURE)
    with chromium(monkeypatch, **DESKTOP) as page:
        page.goto(live_server.url + prediction.get_absolute_url())
        page.wait_for_timeout(600)  # the bars animate their width
        shot(page, "desktop-result-bird_home_29")
        picture, headline, bars = box(page, "#photo"), box(page, "#headline"), box(page, "#bars")
        assert picture["x"] + picture["width"] < headline["x"], "the photo on the left, the answer on the right"
        assert picture["width"] >= 400, picture
        assert abs(picture["y"] - headline["y"]) < 40, "side by side, from the top"
        assert bars["x"] == pytest.approx(headline["x"], abs=1) and bars["y"] > headline["y"]
        # The answer reads as one card: no gap between its head and its figures.
        head, body = box(page, ".answer-head"), box(page, ".answer-body")
        assert body["y"] == pytest.approx(head["y"] + head["height"], abs=1)
        assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["viewport"]["width"]


# 4. A tile's caption keeps the answer and its figure on one line, even "Bearded dragon" and "over 99%".

def caption_lines(page, grid):
    """[(answer text, the answer's top, the figure's top, the figure clipped?)] of a grid's tiles."""
    return page.locator(f"{grid} .tile").evaluate_all("""tiles => tiles.map(tile => {
        const answer = tile.querySelector('.caption .answer'), figure = tile.querySelector('.caption .pct, .caption .badge');
        const a = answer.getBoundingClientRect(), f = figure.getBoundingClientRect(), t = tile.getBoundingClientRect();
        return {text: answer.textContent.trim(), answerTop: a.top, answerHeight: a.height, figureTop: f.top,
                figure: figure.textContent.trim(), clipped: figure.scrollWidth > figure.clientWidth + 1 || f.right > t.right - 2 || f.left < a.right,
                lineHeight: parseFloat(getComputedStyle(answer).lineHeight)};
    })""")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_bearded_dragon_and_its_figure_fit_one_line_on_history_and_home_tiles(live_server, classify, monkeypatch, size):
    dragon = classify("dragon_home_1.jpg", **DRAGON)
    copy_of(dragon, label="bird", probabilities={"bird": 1.0}, pet_score=0.999, confidence=0.999)
    copy_of(dragon, **DRAGON, true_label="dragon")  # checked by our team: the badge instead of the figure
    copy_of(dragon, label="dragon", pet_score=0.97, confidence=0.99, probabilities=DRAGON["probabilities"])
    with chromium(monkeypatch, **SIZES[size]) as page:
        for url, grid in (("/predictions/", "#history-grid"), ("/", "main > .grid")):
            page.goto(live_server.url + url)
            shot(page, f"{size}-tiles-{'history' if 'predictions' in url else 'home'}")
            lines = caption_lines(page, grid)
            assert len(lines) == 4 and sum(line["text"] == "Bearded dragon" for line in lines) == 3, lines
            figures = {line["figure"] for line in lines}
            assert {"over 99%", "✓ Checked", "96%"} <= figures, figures
            for line in lines:
                assert line["figureTop"] == pytest.approx(line["answerTop"], abs=2), f"the figure on the answer's line: {line}"
                assert line["answerHeight"] < 1.5 * line["lineHeight"], f"the answer on one line: {line}"
                assert not line["clipped"], f"the figure is whole: {line}"


# 5. "Recently classified" on the home page: as many tiles as fill whole rows of its grid, on a computer and a phone.

@pytest.mark.parametrize("size", ["desktop", "tablet", "phone"])
def test_recently_classified_fills_whole_rows(live_server, classify, monkeypatch, size):
    first = classify("cat_home_1.jpg", label="cat", pet_score=0.99, confidence=0.99, probabilities={"cat": 1.0})
    for _ in range(12):  # more than the home page shows
        copy_of(first)
    with chromium(monkeypatch, **SIZES[size]) as page:
        page.goto(live_server.url + "/")
        grid = page.locator("main > .grid")
        shot(page, f"{size}-home-recent")
        tiles = grid.locator(".tile")
        lefts = sorted({round(tile.bounding_box()["x"]) for tile in tiles.all()})
        tops = [round(tile.bounding_box()["y"]) for tile in tiles.all()]
        columns = len(lefts)
        assert columns >= 2 and tiles.count() % columns == 0, f"{tiles.count()} tiles in {columns} columns leave a ragged row"
        for row in set(tops):
            assert tops.count(row) == columns, "every row full"
        assert tiles.count() == selectors.RECENT_COUNT  # the count the grid's columns are chosen by


# 6. A tile shows the whole photo in its own proportions (a bird at the edge of a wide photo stays in its tile).

def drawn_box(png):
    """(width, height, image size) of the photo drawn in a screenshot of a tile's image: the rows and columns where more
    than a few pixels differ from the tile's neutral ground (its border and rounded corners do not count)."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    width, height = image.size
    ground = [(0xee, 0xf2, 0xf7), (0xe5, 0xe7, 0xeb), (0xf8, 0xfa, 0xfc)]  # the tile's ground, its border, the page's
    pixels = image.load()
    drawn = [[all(sum(abs(a - b) for a, b in zip(pixels[x, y], colour)) > 24 for colour in ground) for x in range(width)]
             for y in range(height)]
    rows = [y for y in range(height) if sum(drawn[y]) > 0.1 * width]
    columns = [x for x in range(width) if sum(drawn[y][x] for y in range(height)) > 0.1 * len(rows)]
    return columns[-1] - columns[0] + 1, rows[-1] - rows[0] + 1, image.size


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_tile_shows_the_whole_photo(live_server, classify, monkeypatch, size):
    names = ["bird_home_29.jpg", "bird_home_44.jpg", "bird_home_13.jpg", "bird_home_20.jpg"]
    predictions = [classify(name, label="bird", pet_score=0.99, confidence=0.99, probabilities={"bird": 1.0}) for name in names]
    with chromium(monkeypatch, **SIZES[size]) as page:
        page.goto(live_server.url + "/predictions/")
        page.wait_for_function("[...document.querySelectorAll('#history-grid .tile img')].every(i => i.complete && i.naturalWidth)")
        shot(page, f"{size}-tiles-birds")
        for prediction in predictions:
            image = page.locator(f'#history-grid .tile[data-prediction="{prediction.pk}"] img')
            width, height, size_px = drawn_box(image.screenshot())
            expected = prediction.width / prediction.height
            assert width / height == pytest.approx(expected, rel=0.08), (prediction.image.name, width, height, size_px)
            assert max(width / size_px[0], height / size_px[1]) > 0.95, "as large as its tile allows"


# 7. The API docs on a phone: no short code word is broken across lines, and every parameter says what it is.

def test_api_docs_on_a_phone_keep_code_words_whole(live_server, monkeypatch):
    with chromium(monkeypatch, **PHONE) as page:
        page.goto(live_server.url + "/api/docs/")
        shot(page, "phone-api-docs")
        broken = page.locator("td code, p code, h3 code, li code").evaluate_all("""codes => codes
            .filter(c => !/\\s/.test(c.textContent) && c.textContent.length <= 24 && c.getClientRects().length > 1)
            .map(c => c.textContent)""")
        assert broken == []
        for name in ("cursor", "limit", "reviewed", "since", "label", "id"):
            cell = page.locator("table tbody tr", has=page.locator(f'td:first-child code:text-is("{name}")')).first
            meaning = cell.locator("td").nth(2).inner_text().strip()
            assert meaning, f"the parameter {name} has no description"
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]
