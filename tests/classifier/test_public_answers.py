"""Issue 13, honest answers: what the result page, tiles and home page say (Django test client)."""
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from classifier import selectors, services
from classifier.models import Prediction
from tests.classifier.conftest import BLUE, RED, jpeg_bytes, media_files, own, upload_file

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
PROBABILITIES = {"bird": 0.0, "cat": 0.01, "dog": 0.97, "dragon": 0.0, "fish": 0.02, "hamster": 0.0}


@pytest.mark.parametrize("value, text", [
    (1.0, "over 99%"), (0.996, "over 99%"), (0.995, "over 99%"), (0.994, "99%"), (0.5, "50%"), (0.125, "13%"),
    (0.005, "1%"), (0.0049, "under 1%"), (0.0, "under 1%"), (None, ""),
])
def test_percent_filter_never_prints_100_or_0(value, text):
    assert Template("{% load petsite %}{{ p|percent }}").render(Context({"p": value})) == text


def version(name="v-test", threshold=0.5):
    from training.models import ModelVersion

    return ModelVersion.objects.create(name=name, architecture="tiny", file_path="/nowhere.keras", unknown_threshold=threshold)


def done(label, pet_score, confidence, model_version="v-test", probabilities=PROBABILITIES, **extra):
    return Prediction.objects.create(
        image="uploads/x.jpg", display_image="display/x.jpg", status="done", label=label, pet_score=pet_score, confidence=confidence,
        probabilities=probabilities, model_version=model_version, width=10, height=10, completed_at=timezone.now(), **extra,
    )


def page(client, prediction):
    response = client.get(prediction.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


def visible(html):
    """The page's text as a person reads it: no styles, scripts or tags."""
    html = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def text_of(html, element_id):
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</(?:h1|p)>', html, re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", match.group(1))).strip() if match else None


def answer_page(client, label, **fields):
    """The page of a finished prediction (a model version registered), with its headline and subline."""
    version()
    html = page(client, done(label, **fields))
    return html, text_of(html, "headline"), text_of(html, "subline")


def test_not_a_pet_headlines_how_sure_it_is_not_a_pet_and_greys_the_closest_pets(client):
    html, headline, subline = answer_page(client, "unknown", pet_score=0.2, confidence=0.8)
    assert (headline, subline) == ("Not a pet", "80% sure it is not a pet")
    assert '<section class="class-bars secondary"' in html and ">Closest pets</h2>" in html
    assert "<title>Not a pet · petsite</title>" in html
    assert 'alt="Photo classified as not a pet"' in html
    assert "100%" not in visible(html) and " 0%" not in visible(html)
    assert 'id="borderline"' not in html  # 0.2 is far from the threshold 0.5
    # A rabbit owner reads why: "not a pet" means none of the six pets the site knows.
    assert text_of(html, "six-pets").startswith("This site knows six pets: birds, cats, dogs, bearded dragons, fish and hamsters.")


def test_a_pet_answer_does_not_explain_not_a_pet(client):
    html, headline, _ = answer_page(client, "dog", pet_score=0.97, confidence=0.97)
    assert headline == "Dog" and 'id="six-pets"' not in html


def test_a_pet_answer_headlines_the_class_with_its_figure(client):
    html, headline, subline = answer_page(client, "dog", pet_score=0.99, confidence=0.97)
    assert (headline, subline) == ("Dog", "96% sure")  # 0.97 of the pets x pet score 0.99: how sure of "Dog" overall
    assert "<title>Dog · petsite</title>" in html and 'alt="Photo classified as dog"' in html
    assert ">The six pets</h2>" in html and "secondary" not in html.split('id="result"')[1]
    assert 'aria-live="polite"' in html


def bars_of(html):
    """[(name, figure)] of the class bars as a person reads them."""
    section = html.split('id="bars"')[1].split("</ul>")[0]
    return [(name, pct) for name, pct in re.findall(r"<li[^>]*><span>([^<]+)</span>.*?<span class=\"pct\">([^<]+)</span></li>", section)]


def test_a_non_pet_answered_as_a_pet_headlines_how_sure_the_model_is_overall(client):
    """A guinea pig answered "Hamster": 0.9987 of the pets' share but a pet score of only 0.661. The page must not say
    "over 99% sure": the headline is share x pet score, and the bars are on that scale; the rest is one quiet line."""
    version(threshold=0.5)
    prediction = done("hamster", pet_score=0.661, confidence=0.9987,
                      probabilities={"bird": 0.0001, "cat": 0.0005, "dog": 0.0004, "dragon": 0.0001, "fish": 0.0002, "hamster": 0.9987})
    html = page(client, prediction)
    assert (text_of(html, "headline"), text_of(html, "subline")) == ("Hamster", "66% sure")
    assert "over 99%" not in visible(html)
    bars = bars_of(html)
    assert bars == [("Bird", "under 1%"), ("Cat", "under 1%"), ("Dog", "under 1%"), ("Bearded dragon", "under 1%"),
                    ("Fish", "under 1%"), ("Hamster", "66%")]
    # the 34% that may be none of the pets is said once, in the unsure notice (not again under the bars)
    assert text_of(html, "unsure").startswith("Not sure: 34% that it is none of the six pets:") and 'id="bars-other"' not in html
    assert '<li data-label="hamster" class="top">' in html  # the headline's bar is the highlighted one, with its figure
    # The API keeps its meanings: confidence is the share among the pets, pet_score the model's belief in a pet at all.
    body = client.get(reverse("api:prediction", args=[prediction.pk])).json()
    assert (body["confidence"], body["pet_score"], body["probabilities"]["hamster"]) == (0.9987, 0.661, 0.9987)
    # The history tile says the same figure as the page.
    tile = client.get(reverse("classifier:tile", args=[prediction.pk])).content.decode()
    assert '<span class="muted pct">66%</span>' in tile


def test_not_a_pet_closest_pets_bars_are_on_the_headlines_scale(client):
    html, headline, subline = answer_page(client, "unknown", pet_score=0.2, confidence=0.8)
    assert subline == "80% sure it is not a pet"
    # 0.2 of pet score shared 0.97 / 0.02 / 0.01: no "Dog 97%" beside "80% sure it is not a pet".
    assert dict(bars_of(html)) == {"Bird": "under 1%", "Cat": "under 1%", "Dog": "19%", "Bearded dragon": "under 1%",
                                   "Fish": "under 1%", "Hamster": "under 1%"}


def test_an_old_row_without_a_pet_score_labels_its_bars_as_shares_among_the_pets(client):
    html, headline, subline = answer_page(client, "dog", pet_score=None, confidence=0.97)
    assert subline == "97% sure" and ">Among the six pets</h2>" in html
    assert bars_of(html)[2] == ("Dog", "97%") and "Not a pet" not in dict(bars_of(html))
    assert 'id="bars-other"' not in html


def test_a_pet_answer_near_the_threshold_never_has_a_bar_longer_than_its_own(client):
    """Pet score 0.48 over a threshold of 0.453, Dog's share 0.9: "Dog 43% sure" must not sit above a 52% "Not a pet"
    bar. The pets' bars stay on the headline's scale; the rest is one quiet line under them."""
    version(threshold=0.453)
    prediction = done("dog", pet_score=0.48, confidence=0.9,
                      probabilities={"bird": 0.02, "cat": 0.04, "dog": 0.9, "dragon": 0.01, "fish": 0.01, "hamster": 0.02})
    html = page(client, prediction)
    assert (text_of(html, "headline"), text_of(html, "subline")) == ("Perhaps a dog", "43% sure")  # under half sure
    bars = bars_of(html)
    assert [name for name, _ in bars] == ["Bird", "Cat", "Dog", "Bearded dragon", "Fish", "Hamster"]
    assert dict(bars)["Dog"] == "43%" and 'data-label="unknown"' not in html
    answer = selectors.prediction_answer(prediction)
    assert max(answer.bars, key=lambda bar: bar.value).label == "dog" == next(bar.label for bar in answer.bars if bar.top)
    assert text_of(html, "unsure").startswith("Not sure: 52% that it is none of the six pets:") and 'id="bars-other"' not in html


def test_a_pet_answer_whose_rest_rounds_under_one_percent_has_no_line_for_it(client):
    html, _, _ = answer_page(client, "dog", pet_score=0.996, confidence=0.97)
    assert 'id="bars-other"' not in html
    html = page(client, done("dog", pet_score=0.99, confidence=0.97))
    assert text_of(html, "bars-other") == "The other 1%: it may be none of these six pets."


def test_two_pets_at_the_same_share_headline_and_highlight_the_answered_one(client):
    version()
    for label in ("cat", "dog"):
        prediction = done(label, pet_score=0.9, confidence=0.5,
                          probabilities={"bird": 0.0, "cat": 0.5, "dog": 0.5, "dragon": 0.0, "fish": 0.0, "hamster": 0.0})
        html = page(client, prediction)
        assert text_of(html, "headline") == f"Perhaps a {label}"  # 45% sure, the other pet as likely
        assert re.findall(r'<li data-label="(\w+)" class="top">', html) == [label]


def test_a_model_without_a_pet_score_stores_none_and_its_page_shows_the_plain_shares(client, settings, tiny_model_path):
    """The tiny model (like `seed`) has no pet-score output: its top share stood in for the pet score, so the page
    said "49% sure" for a 0.70 share (share x share) beside a "Not a pet" bar it can never answer. No pet score is
    stored now, and the page shows the shares among the six pets."""
    from PIL import Image

    from classifier.inference import classify_image, get_predictor

    settings.PETSITE_MODEL_PATH = tiny_model_path
    assert not get_predictor(use_database=False).has_pet_score
    result = classify_image(Image.new("RGB", (40, 40), (140, 90, 90)), use_database=False)
    assert result.label == "cat" and result.pet_score is None
    prediction = done("cat", pet_score=result.pet_score, confidence=result.confidence, model_version=result.model_version)
    html = page(client, prediction)
    from classifier.templatetags.petsite import percent

    assert text_of(html, "subline") == f"{percent(result.confidence)} sure"  # the share itself, not share x share
    assert ">Among the six pets</h2>" in html and 'data-label="unknown"' not in html and 'id="bars-other"' not in html


@pytest.mark.parametrize("label, threshold, pet_score, words", [
    ("dog", 0.8, 0.85, "only just sure enough that this shows a pet"),  # 84% sure overall: not "unsure", but near a high threshold
    ("unknown", 0.5, 0.45, "close to being counted as a pet"),
])
def test_borderline_answers_say_so_in_words(client, label, threshold, pet_score, words):
    version(threshold=threshold)
    html = page(client, done(label, pet_score=pet_score, confidence=0.99 if label == "dog" else 0.55))
    assert "Borderline" in text_of(html, "borderline") and words in html and 'id="unsure"' not in html


def test_a_borderline_answer_checked_by_staff_is_not_called_borderline(client):
    version(threshold=0.5)
    html = page(client, done("unknown", pet_score=0.45, confidence=0.55, true_label="unknown"))
    assert text_of(html, "headline") == "Checked by our team: Not a pet"
    assert 'id="borderline"' not in html and 'id="unsure"' not in html


def shares(**pets):
    return {**dict.fromkeys(("bird", "cat", "dog", "dragon", "fish", "hamster"), 0.0002), **pets}


def test_an_unsure_pet_answer_says_it_may_be_none_of_the_six_pets(client):
    """A guinea pig answered "Hamster": nearly all the pets' share, but a pet score of 0.57, so 43% may be none of them."""
    version(threshold=0.3)
    html = page(client, done("hamster", pet_score=0.57, confidence=0.999, probabilities=shares(hamster=0.999)))
    assert (text_of(html, "headline"), text_of(html, "subline")) == ("Hamster", "57% sure")
    assert text_of(html, "unsure") == ("Not sure: 43% that it is none of the six pets: another animal (guinea pigs, rabbits "
                                       "and ferrets are often taken for one of them) or no animal at all.")
    assert 'id="borderline"' not in html


def test_a_pet_answer_under_half_sure_headlines_perhaps(client):
    """A guitar whose pet score just passed the threshold: "Dog" at 14% overall reads "Perhaps a dog"."""
    version(threshold=0.28)
    html = page(client, done("dog", pet_score=0.29, confidence=0.48, probabilities=shares(dog=0.48, cat=0.3, fish=0.2)))
    assert (text_of(html, "headline"), text_of(html, "subline")) == ("Perhaps a dog", "14% sure")
    assert text_of(html, "unsure").startswith("Not sure: 71% that it is none of the six pets")
    assert "<title>Perhaps a dog · petsite</title>" in html
    tiles = client.get(reverse("classifier:history")).content.decode()  # the history's tile hedges as the page does
    assert '<span class="answer">Perhaps a dog</span>' in tiles


def test_an_unsure_pet_answer_names_the_next_pet(client):
    """A husky puppy: dog 54%, cat 44%; the 1% that may be none of the pets keeps its own line."""
    version(threshold=0.3)
    html = page(client, done("dog", pet_score=0.99, confidence=0.55, probabilities=shares(dog=0.55, cat=0.445)))
    assert text_of(html, "unsure") == "Not sure: it may be a cat (44%)."
    assert text_of(html, "bars-other") == "The other 1%: it may be none of these six pets."


def test_a_pet_answer_without_its_stored_share_is_not_called_unsure(client):
    """An old row with a pet score but no share: no figure to doubt, so no notice naming another pet."""
    version(threshold=0.3)
    html = page(client, done("dog", pet_score=0.9, confidence=None, probabilities=shares(dog=0.6, cat=0.3)))
    assert 'id="unsure"' not in html


@pytest.mark.parametrize("fields", [
    {"pet_score": 0.9, "confidence": 0.9},  # 81% sure: sure enough
    {"pet_score": 0.57, "confidence": 0.999, "true_label": "hamster"},  # staff checked it
])
def test_sure_or_checked_pet_answers_have_no_doubt_notice(client, fields):
    version(threshold=0.3)
    html = page(client, done("hamster", probabilities=shares(hamster=0.999), **fields))
    assert 'id="unsure"' not in html


def test_the_threshold_comes_from_the_model_version_or_the_shipped_models_card(settings, tmp_path):
    version("v-db", threshold=0.31)
    assert selectors.unknown_threshold_of("v-db") == 0.31
    model = tmp_path / "shipped.keras"
    model.write_bytes(b"x")
    model.with_suffix(".json").write_text('{"version": "shipped-1", "unknown_threshold": 0.42, "input_size": 32}')
    settings.PETSITE_MODEL_PATH = model
    assert selectors.unknown_threshold_of("shipped-1") == 0.42
    assert selectors.unknown_threshold_of("somebody-else") is None and selectors.unknown_threshold_of("") is None


def test_reviewed_prediction_headlines_the_reviewed_label_and_keeps_the_models_answer(client, django_user_model):
    version()
    prediction = done("unknown", pet_score=0.2, confidence=0.8, true_label="dog")
    html = page(client, prediction)
    assert text_of(html, "headline") == "Checked by our team: Dog"
    assert text_of(html, "model-answer") == "Our model said: Not a pet (80% sure it is not a pet)."
    assert "<title>Dog · petsite</title>" in html
    assert 'id="six-pets"' not in html  # the answer shown is a pet


def test_pending_page_says_when_it_is_taking_longer_than_usual(client, make_prediction):
    fresh = make_prediction(classify=False)
    assert re.search(r'<p class="notice" id="slow" hidden>', page(client, fresh))
    Prediction.objects.filter(pk=fresh.pk).update(created_at=timezone.now() - timedelta(seconds=25))
    html = page(client, fresh)
    assert '<p class="notice" id="slow">This is taking longer than usual' in html
    assert 'data-status="pending"' in html and "<title>Classifying… · petsite</title>" in html


def test_a_session_from_before_the_uploader_token_still_owns_its_photos(client, make_prediction):
    from classifier.ownership import OWN_UPLOADS

    prediction = make_prediction()
    assert 'id="delete-button"' not in page(client, prediction)
    session = client.session
    session[OWN_UPLOADS] = [prediction.pk]  # what the upload view recorded then
    session.save()
    assert 'id="delete-button"' in page(client, prediction)


def test_failed_page_explains_in_plain_words_and_offers_to_try_again(client, make_prediction):
    prediction = make_prediction(classify=False)
    own(client, prediction)
    Prediction.objects.filter(pk=prediction.pk).update(status="failed", error="Gave up after 5 attempts to classify this photo.", attempts=6)
    html = page(client, prediction)
    assert text_of(html, "headline") == "We couldn't classify this photo"
    assert "Something went wrong on our side" in text_of(html, "subline")
    assert 'id="retry-button"' in html
    response = client.post(reverse("classifier:retry", args=[prediction.pk]))
    assert response.status_code == 302
    prediction.refresh_from_db()
    assert (prediction.status, prediction.error, prediction.attempts) == ("pending", "", 0)
    # A photo that cannot be decoded: trying again would not help, so it offers another photo instead.
    Prediction.objects.filter(pk=prediction.pk).update(status="failed", error="The image file is damaged or truncated and cannot be decoded.")
    html = page(client, prediction)
    assert 'id="retry-button"' not in html and "Please try a different photo." in html and "Upload a different photo" in html


def test_only_the_uploader_or_staff_can_try_a_failed_photo_again(client, make_prediction, django_user_model):
    prediction = make_prediction(classify=False)
    Prediction.objects.filter(pk=prediction.pk).update(status="failed", error="Gave up after 5 attempts to classify this photo.", attempts=6)
    assert 'id="retry-button"' not in page(client, prediction)  # a stranger's browser
    client.post(reverse("classifier:retry", args=[prediction.pk]))
    prediction.refresh_from_db()
    assert prediction.status == "failed"
    assert "Only the person who uploaded" in page(client, prediction)
    staff = django_user_model.objects.create_user("staffer", password="pw-staff-12345", is_staff=True)
    client.force_login(staff)
    assert 'id="retry-button"' in page(client, prediction)
    client.post(reverse("classifier:retry", args=[prediction.pk]))
    prediction.refresh_from_db()
    assert prediction.status == "pending"


def test_the_same_words_everywhere():
    for template in TEMPLATES.rglob("*.html"):
        assert "Not one of our pets" not in template.read_text(), template
    assert "widthratio p 1 100 %}%<" not in (TEMPLATES / "classifier" / "_answer.html").read_text()


def test_result_page_shows_a_display_copy_made_lazily_for_old_rows(client, make_prediction, settings):
    prediction = make_prediction(RED)
    Prediction.objects.filter(pk=prediction.pk).update(display_image="")
    html = page(client, prediction)
    prediction.refresh_from_db()
    assert prediction.display_image and prediction.display_image.url in html and prediction.image.url not in html
    assert re.fullmatch(r"display/[0-9a-f]{32}\.jpg", prediction.display_image.name), prediction.display_image.name


def test_no_lazy_display_copy_is_tried_for_a_failed_photo_and_a_failed_try_is_not_repeated(client, make_prediction, monkeypatch):
    decodes = []
    open_image = services.open_image
    monkeypatch.setattr(services, "open_image", lambda data: decodes.append(1) or open_image(data))
    failed = services.submit_upload(upload_file())
    Prediction.objects.filter(pk=failed.pk).update(status="failed", error="The image file is damaged or truncated and cannot be decoded.")
    for _ in range(3):
        page(client, failed)
    assert decodes == []  # a failed photo is never decoded on a page view
    done = make_prediction(RED)
    Prediction.objects.filter(pk=done.pk).update(display_image="")
    Path(done.image.path).write_bytes(b"not an image any more")
    decodes.clear()
    for _ in range(3):
        page(client, done)
    assert decodes == [1]  # tried once; its failure is remembered
    done.refresh_from_db()
    assert not done.display_image


def test_display_copy_is_a_jpeg_of_at_most_1024_px(make_prediction, settings):
    from PIL import Image

    prediction = services.submit_upload(upload_file("big.jpg", jpeg_bytes(size=(2000, 1500))))
    assert not prediction.display_image  # made by the worker, from the decode it classifies, not in the request
    prediction = services.classify_prediction(prediction.pk)
    with Image.open(prediction.display_image.path) as copy:
        assert copy.format == "JPEG" and copy.size == (1024, 768)
    with Image.open(prediction.thumbnail.path) as thumb:
        assert thumb.format == "JPEG" and thumb.size == (320, 240)


def test_home_says_uploads_are_public_and_the_upload_script_is_served(client):
    html = client.get(reverse("classifier:home")).content.decode()
    assert "Photos you upload are public" in html and "may be used to improve the model" in html
    assert 'multiple' in html and 'data-max-files="20"' in html
    from django.contrib.staticfiles import finders

    assert re.search(r'<script src="/static/classifier/petsite\.js"', html)
    body = Path(finders.find("classifier/petsite.js")).read_text()
    for needed in ("toBlob", "image/jpeg", "1600", "upload.addEventListener(\"progress\"", "\"paste\"", "\"drop\"", "over 99%"):
        assert needed in body, needed


def test_the_script_posts_to_the_form_and_gets_json_back(client):
    response = client.post(reverse("classifier:home"), {"image": upload_file("cat.jpg")}, HTTP_ACCEPT="application/json")
    assert response.status_code == 202
    body = response.json()
    assert body["page_url"] == f"/predictions/{body['id']}/" and response["Location"] == body["page_url"]
    tile = client.get(body["tile_url"]).content.decode()
    assert f'data-prediction="{body["id"]}"' in tile and "Classifying…" in tile
    bad = client.post(reverse("classifier:home"), {"image": upload_file("notes.jpg", b"hello")}, HTTP_ACCEPT="application/json")
    assert bad.status_code == 400 and bad.json()["error"].startswith("notes.jpg: ")


def test_the_scripts_json_error_gives_the_problem_without_the_file_name(client):
    """The page names the file once: `error` starts with the name; `problem` is the message alone (the script prefixes
    the name the person chose)."""
    bad = client.post(reverse("classifier:home"), {"image": upload_file("text.jpg", b"hello")}, HTTP_ACCEPT="application/json")
    body = bad.json()
    assert body["error"] == "text.jpg: " + body["problem"]
    assert body["problem"] == "This file is not a JPEG, PNG, WebP, HEIC or AVIF image."


def test_the_heat_map_says_which_class_it_shows(client):
    version()
    assert 'id="heatmap-caption">Where the model saw a dog</p>' in page(client, done("dog", pet_score=0.99, confidence=0.97))
    not_a_pet = page(client, done("unknown", pet_score=0.2, confidence=0.8))
    # "Not a pet": where the photo looked most like its closest pet (never that the model saw one)
    assert 'id="heatmap-caption">Where the photo looked most like a dog</p>' in not_a_pet
    hamster = page(client, done("hamster", pet_score=0.9, confidence=0.9, true_label="cat"))  # the model's class, reviewed or not
    assert 'id="heatmap-caption">Where the model saw a hamster</p>' in hamster
    assert 'aria-describedby="heatmap-caption"' in hamster


def test_a_pending_page_reloads_itself_without_javascript(client, make_prediction):
    refresh = '<noscript><meta http-equiv="refresh" content="3"></noscript>'
    pending = make_prediction(classify=False)
    html = page(client, pending)
    assert "This page updates by itself" in html and refresh in html.split("</head>")[0]
    version()
    assert refresh not in page(client, done("dog", pet_score=0.99, confidence=0.97))  # a finished answer stays put


def test_the_uploader_can_delete_their_own_photo_and_nobody_else_can(client, settings, django_capture_on_commit_callbacks):
    from django.test import Client

    client.post(reverse("classifier:home"), {"image": upload_file("mine.jpg")})
    prediction = Prediction.objects.get()
    assert 'id="delete-button"' in page(client, prediction)
    stranger = Client()
    assert 'id="delete-button"' not in page(stranger, prediction)
    assert stranger.post(reverse("classifier:delete", args=[prediction.pk])).status_code == 302
    assert Prediction.objects.filter(pk=prediction.pk).exists()

    services.classify_prediction(prediction.pk)  # the worker makes the copies
    files = media_files(settings)
    assert len(files) == 3  # original, thumbnail, display copy
    # The page's button asks first: a page that asks to confirm (GET, or a POST without confirm=yes, deletes nothing).
    confirm = client.get(reverse("classifier:delete", args=[prediction.pk]))
    assert confirm.status_code == 200 and "Delete this photo?" in confirm.content.decode()
    assert client.post(reverse("classifier:delete", args=[prediction.pk])).status_code == 200
    assert Prediction.objects.filter(pk=prediction.pk).exists() and len(media_files(settings)) == 3
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("classifier:delete", args=[prediction.pk]), {"confirm": "yes"})
    assert media_files(settings) == []  # the row and every file: it cannot reach a future dataset
    assert response.status_code == 302 and response["Location"] == reverse("classifier:home")
    assert not Prediction.objects.filter(pk=prediction.pk).exists()
    assert "Your photo was deleted" in client.get(response["Location"]).content.decode()


def test_deleting_asks_to_confirm_first(client):
    client.post(reverse("classifier:home"), {"image": upload_file("mine.jpg")})
    prediction = Prediction.objects.get()
    html = page(client, prediction)
    delete_url = reverse("classifier:delete", args=[prediction.pk])
    # The result page's button is a plain link to the question page: no JavaScript needed, nothing deleted yet.
    assert f'<a class="button danger" href="{delete_url}" id="delete-button">Delete my photo…</a>' in html
    confirm = client.get(delete_url).content.decode()
    assert "<title>Delete your photo? · petsite</title>" in confirm and "<h1>Delete this photo?</h1>" in confirm
    assert "This cannot be undone." in visible(confirm)
    assert re.search(r'<form method="post" action="%s"' % delete_url, confirm) and 'name="confirm" value="yes"' in confirm
    assert 'id="confirm-delete" aria-describedby="delete-warning">Yes, delete my photo</button>' in confirm
    assert f'<a href="{prediction.get_absolute_url()}" id="cancel-delete">No, keep it</a>' in confirm
    assert Prediction.objects.filter(pk=prediction.pk).exists()
    from django.test import Client

    assert Client().get(delete_url).status_code == 302  # a stranger is not even asked


def test_history_tiles_use_the_same_words(client):
    version()
    done("unknown", pet_score=0.2, confidence=0.8)
    done("cat", pet_score=0.99, confidence=1.0, true_label="dog")
    html = client.get(reverse("classifier:history")).content.decode()
    assert "Not a pet" in html and "80%" in html and "over 99%" not in html  # the reviewed tile shows its check, not a figure
    assert "✓ Checked" in html and 'alt="Photo checked by our team as dog"' in html and "100%" not in visible(html)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_page_waiting_for_a_deleted_photo_says_so_and_stops_asking(live_server, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

    monkeypatch.setattr(services, "dispatch_on_commit", lambda *args: None)
    prediction = services.submit_upload(upload_file())  # pending: nobody classifies it here
    api = reverse("api:prediction", args=[prediction.pk])
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    asked = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page()
        page.set_default_timeout(15_000)
        page.on("request", lambda request: asked.append(request.url) if request.url.endswith(api) else None)
        page.goto(live_server.url + prediction.get_absolute_url())
        expect(page.locator("#result")).to_have_attribute("data-status", "pending")
        services.delete_predictions(Prediction.objects.filter(pk=prediction.pk))
        expect(page.locator("#deleted")).to_contain_text("This photo was deleted")
        before = len(asked)
        page.wait_for_timeout(4000)  # longer than the longest wait between two polls
        assert len(asked) == before
        browser.close()


def test_a_display_copy_that_cannot_be_written_shows_the_thumbnail_and_is_not_retried_on_every_view(client, make_prediction, monkeypatch):
    import errno

    from django.core.files.storage import FileSystemStorage

    prediction = make_prediction(RED)
    Prediction.objects.filter(pk=prediction.pk).update(display_image="")
    writes = []

    def full_disk(self, name, content):
        writes.append(name)
        Path(self.path(name)).parent.mkdir(parents=True, exist_ok=True)
        Path(self.path(name)).write_bytes(b"\xff\xd8 part")  # what a full disk leaves
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FileSystemStorage, "_save", full_disk)
    for _ in range(3):
        response = client.get(reverse("classifier:prediction", args=[prediction.pk]))
        assert response.status_code == 200 and prediction.thumbnail.url in response.content.decode()
    assert len(writes) == 1  # tried once, then left for services.WRITE_RETRY_SECONDS
    assert not Path(FileSystemStorage().path(writes[0])).exists()  # no half-written copy left behind
    prediction.refresh_from_db()
    assert not prediction.display_image and prediction.status == "done"
