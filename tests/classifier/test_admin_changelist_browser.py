"""The admin's prediction list in a real headless Chromium at 1280x800: it fits the window beside the admin's
navigation and filter sidebars (no sideways scrolling, of the page or of the table), and what staff review by is on
screen: thumbnail, answer (or status), how sure, the reviewed label with who and when, the upload time and file name."""
import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from classifier.models import Prediction
from tests.conftest import color_image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTH, HEIGHT = 1280, 800
CLASSES = ("bird", "cat", "dog", "dragon", "fish", "hamster")
LONG_NAME = "PXL_20260412_153012345.MP.a-very-long-original-file-name-straight-from-a-phone-camera-roll-export.jpg"


def stored(status="done", label="cat", confidence=0.8, pet_score=0.5, name="IMG_0001.jpg", error="", reviewer=None,
           true_label="", color=(200, 30, 30)):
    """A prediction as the worker leaves it (with its thumbnail), or pending (no thumbnail yet)."""
    done = status == "done"
    probabilities = dict.fromkeys(CLASSES, 0.01) if done else {}
    if label in probabilities:
        probabilities[label] = confidence
    prediction = Prediction(
        status=status, label=label if done else "", confidence=confidence if done else None, probabilities=probabilities,
        pet_score=pet_score if done else None, model_version="default-openset-6", original_filename=name,
        image_format="JPEG", error=error, true_label=true_label,
    )
    data = color_image_bytes(color, size=(320, 240))
    prediction.image.save("p.jpg", ContentFile(data), save=False)
    if status != "pending":
        prediction.thumbnail.save("t.jpg", ContentFile(data), save=False)
        prediction.completed_at = timezone.now()
    if true_label:
        prediction.reviewed_by, prediction.reviewed_at = reviewer, timezone.now()
    prediction.save()
    return prediction


def short(value):
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def test_the_prediction_list_fits_1280_wide_with_what_staff_review_by_on_screen(live_server, client, django_user_model, monkeypatch):
    from playwright.sync_api import expect

    from tests.e2e.conftest import staff_page

    user = django_user_model.objects.create_superuser("reviewer.with.a.long.name", "r@example.com", "pw-for-tests")
    long_named = stored(name=LONG_NAME)  # cat, 40% sure (80% among the six pets), not reviewed
    relabelled = stored(label="hamster", confidence=0.999, pet_score=0.661, true_label="cat", reviewer=user, color=(30, 200, 30))
    dragon = stored(label="dragon", confidence=0.97, pet_score=0.99, true_label="dragon", reviewer=user, color=(30, 30, 200))
    not_a_pet = stored(label="unknown", confidence=0.83, pet_score=0.17, true_label="unknown", reviewer=user)
    failed = stored(status="failed", error="The model could not read this photo.")
    pending = stored(status="pending")

    with staff_page(live_server, client, user, monkeypatch, viewport={"width": WIDTH, "height": HEIGHT}) as page:
        page.goto(live_server.url + reverse("admin:classifier_prediction_changelist"))
        page.wait_for_load_state("networkidle")
        # The narrowest case: both sidebars beside the list.
        expect(page.locator("#nav-sidebar")).to_be_visible()
        expect(page.locator("#changelist-filter")).to_be_visible()

        widths = page.evaluate("""() => {
            const results = document.querySelector('#changelist-form .results');
            return {page: document.documentElement.scrollWidth, window: window.innerWidth,
                    table: document.querySelector('#result_list').getBoundingClientRect().right,
                    results: results.getBoundingClientRect().right,
                    resultsScroll: results.scrollWidth, resultsClient: results.clientWidth};
        }""")
        assert widths["page"] <= widths["window"] == WIDTH, widths  # no sideways scrolling of the page
        assert widths["table"] <= widths["results"] <= WIDTH, widths  # nor of the table in its box
        assert widths["resultsScroll"] <= widths["resultsClient"], widths

        def inside(locator):
            expect(locator).to_be_visible()
            box = locator.bounding_box()
            assert 0 <= box["x"] and box["x"] + box["width"] <= WIDTH, (locator, box)

        # The action controls and every cell are on screen.
        for control in ('select[name="action"]', 'button[name="index"]', "#result_list thead th.column-uploaded"):
            inside(page.locator(control).first)
        for cell in page.locator("#result_list tbody td, #result_list tbody th").all():
            inside(cell)

        def row(prediction):
            return page.locator(f'#result_list tbody tr:has(input.action-select[value="{prediction.pk}"])')

        for prediction in (long_named, relabelled, dragon, not_a_pet, failed):
            thumbnail = row(prediction).locator("td.field-thumbnail_tag img")
            inside(thumbnail)
            assert thumbnail.evaluate("img => img.complete && img.naturalWidth > 0")
        expect(row(pending).locator("td.field-thumbnail_tag")).to_have_text("-")  # no thumbnail until classified

        answers = {long_named: "Cat", relabelled: "Hamster", dragon: "Bearded dragon", not_a_pet: "Not a pet",
                   failed: "Failed", pending: "Classifying"}
        for prediction, answer in answers.items():
            expect(row(prediction).locator("td.field-answer")).to_have_text(answer)
        expect(row(failed).locator("td.field-answer span")).to_have_attribute("title", "The model could not read this photo.")

        sure = {long_named: "40% (80% among the six pets)", relabelled: "66% (over 99% among the six pets)",
                dragon: "96% (97% among the six pets)", not_a_pet: "83%", failed: "-", pending: "-"}
        for prediction, figure in sure.items():
            expect(row(prediction).locator("td.field-confidence_pct")).to_have_text(figure)

        for prediction, label in ((relabelled, "Cat"), (dragon, "Bearded dragon"), (not_a_pet, "Not a pet")):
            review = row(prediction).locator("td.field-review")
            expect(review.locator("strong")).to_have_text(label)
            reviewer = review.locator(".clip")
            expect(reviewer).to_have_attribute("title", user.username)  # whole on hover, however it is cut
            inside(reviewer)
            expect(review.locator("time")).to_have_text(short(Prediction.objects.get(pk=prediction.pk).reviewed_at))
        expect(row(long_named).locator("td.field-review")).to_have_text("-")

        for prediction in answers:
            expect(row(prediction).locator("td.field-uploaded time")).to_have_text(
                short(Prediction.objects.get(pk=prediction.pk).created_at))
        name = row(long_named).locator("td.field-uploaded .clip")
        inside(name)
        expect(name).to_have_attribute("title", LONG_NAME)
        # Cut with an ellipsis to its column, not widening it.
        assert name.evaluate("el => el.scrollWidth > el.clientWidth && getComputedStyle(el).textOverflow === 'ellipsis'")
        expect(row(failed).locator("td.field-uploaded .clip")).to_have_text("IMG_0001.jpg")  # a short one whole
