"""The staff review queue: order (unreviewed, most uncertain first), filters, keys, undo, history, counts; and the
keys pressed in a real Chromium."""
import os
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from classifier import selectors
from classifier.models import Prediction
from tests.conftest import color_image_bytes

pytestmark = pytest.mark.django_db
CLASSES = ("bird", "cat", "dog", "dragon", "fish", "hamster")


def done(top="cat", p_top=0.9, second="dog", p_second=0.05, pet_score=0.99, version="m1", true_label="", color=(200, 30, 30)):
    probabilities = dict.fromkeys(CLASSES, 0.0)
    probabilities[top], probabilities[second] = p_top, p_second
    prediction = Prediction(status="done", label=top, confidence=p_top, probabilities=probabilities, pet_score=pet_score,
                            model_version=version, true_label=true_label, image_format="JPEG")
    prediction.image.save("p.jpg", ContentFile(color_image_bytes(color), name="p.jpg"), save=False)
    prediction.save()
    return prediction


@pytest.fixture
def queue_rows():
    sure = done(p_top=0.95, p_second=0.03)
    close_classes = done(p_top=0.5, p_second=0.45)  # margin 0.05
    borderline_pet = done(p_top=0.9, p_second=0.05, pet_score=0.52)  # 0.02 from the 0.5 threshold
    reviewed = done(p_top=0.4, p_second=0.39, true_label="cat")
    return sure, close_classes, borderline_pet, reviewed


def test_unreviewed_first_most_uncertain_first(queue_rows):
    sure, close_classes, borderline_pet, reviewed = queue_rows
    assert selectors.review_queue() == [borderline_pet.pk, close_classes.pk, sure.pk]
    assert selectors.review_queue(include_reviewed=True) == [borderline_pet.pk, close_classes.pk, sure.pk, reviewed.pk]
    assert selectors.review_queue(skipped=[borderline_pet.pk]) == [close_classes.pk, sure.pk, borderline_pet.pk]
    counts = selectors.review_counts(skipped=[borderline_pet.pk])
    assert (counts["left"], counts["skipped"], counts["reviewed"]) == (2, 1, 1)


def test_filters_predicted_class_model_version_and_date(queue_rows):
    sure, close_classes, borderline_pet, _ = queue_rows
    dog = done(top="dog", second="cat", version="m2")
    Prediction.objects.filter(pk=sure.pk).update(created_at=timezone.now() - timedelta(days=3))
    assert selectors.review_queue(label="dog") == [dog.pk]
    assert selectors.review_queue(model_version="m2") == [dog.pk]
    today = timezone.localdate()
    assert sure.pk not in selectors.review_queue(since=today)
    assert selectors.review_queue(until=today - timedelta(days=1)) == [sure.pk]


def test_keys_decide_through_the_relabel_services_undo_and_history(staff_client, staff_user, queue_rows):
    sure, close_classes, borderline_pet, _ = queue_rows
    page = staff_client.get(reverse("review:queue")).content.decode()
    assert f'data-prediction="{borderline_pet.pk}"' in page and 'id="count-left">3<' in page
    for key in ('data-key="1"', 'data-key="6"', 'data-key="0 u"', 'data-key="Enter"', 'data-key="s"', 'data-key="z"'):
        assert key in page

    # "3" = dog: relabelled, reviewer and time recorded, admin history written; the queue moves on by itself.
    response = staff_client.post(reverse("review:decide", args=[borderline_pet.pk]), {"decision": "dog"}, follow=True)
    borderline_pet.refresh_from_db()
    assert (borderline_pet.true_label, borderline_pet.reviewed_by) == ("dog", staff_user) and borderline_pet.reviewed_at
    assert LogEntry.objects.get(object_id=str(borderline_pet.pk)).get_change_message() == "Relabelled as Dog (was not reviewed)."
    page = response.content.decode()
    assert f'data-prediction="{close_classes.pk}"' in page and 'id="count-left">2<' in page
    assert f"Saved: #{borderline_pet.pk} labelled Dog." in page  # the key's effect, said

    # Enter confirms the model's answer; s skips; z undoes the skip, then the confirmation.
    staff_client.post(reverse("review:decide", args=[close_classes.pk]), {"decision": "confirm"})
    close_classes.refresh_from_db()
    assert close_classes.true_label == "cat"
    page = staff_client.post(reverse("review:decide", args=[sure.pk]), {"decision": "skip"}, follow=True).content.decode()
    assert 'id="count-left">0<' in page and 'id="count-skipped">1<' in page and f"Saved: #{sure.pk} skipped." in page
    page = staff_client.post(reverse("review:undo"), follow=True).content.decode()
    assert f'data-prediction="{sure.pk}"' in page and 'id="count-skipped">0<' in page
    assert f"Undone: #{sure.pk} skipped." in page and "Saved:" not in page  # what z just did
    assert 'id="last-action"' not in staff_client.get(reverse("review:queue")).content.decode()  # said once
    page = staff_client.post(reverse("review:undo"), follow=True).content.decode()
    close_classes.refresh_from_db()
    assert close_classes.true_label == "" and f'data-prediction="{close_classes.pk}"' in page
    # The photo's history: earlier labels and who gave them.
    assert "Confirmed the predicted label Cat." in page and "Cleared the review (was Cat)." in page and "reviewer" in page


def test_undo_never_overwrites_a_label_another_reviewer_gave_since(staff_client, staff_user, django_user_model, queue_rows):
    from classifier import services

    sure, close_classes, borderline_pet, reviewed = queue_rows
    staff_client.post(reverse("review:decide", args=[borderline_pet.pk]), {"decision": "dog"})
    other = django_user_model.objects.create_user("other", is_staff=True)
    services.relabel(Prediction.objects.filter(pk=borderline_pet.pk), "fish", other)  # a later label by someone else
    page = staff_client.post(reverse("review:undo"), follow=True).content.decode()
    borderline_pet.refresh_from_db()
    assert (borderline_pet.true_label, borderline_pet.reviewed_by) == ("fish", other)
    assert "not undone" in page and "since" in page
    # Unchanged since: undo puts the earlier label back (a confirmation too).
    staff_client.post(reverse("review:decide", args=[close_classes.pk]), {"decision": "confirm"})
    assert Prediction.objects.get(pk=close_classes.pk).true_label == "cat"
    staff_client.post(reverse("review:undo"))
    assert Prediction.objects.get(pk=close_classes.pk).true_label == ""
    assert services.undo_review_decision(reviewed.pk, "", staff_user, decision="dog") is False  # it says cat, not dog
    assert Prediction.objects.get(pk=reviewed.pk).true_label == "cat"


def test_filters_carry_through_decisions(staff_client, queue_rows):
    dog = done(top="dog", second="cat")
    response = staff_client.post(reverse("review:decide", args=[dog.pk]), {"decision": "dog", "q": "label=dog"})
    assert response.url == reverse("review:queue") + "?label=dog"
    assert "Nothing left to review with these filters" in staff_client.get(response.url).content.decode()


def test_staff_only_and_linked_from_the_admin(client, staff_client, queue_rows):
    index = staff_client.get(reverse("admin:index")).content.decode()
    assert f'<a href="{reverse("review:queue")}">Review queue</a>' in index
    changelist = staff_client.get(reverse("admin:classifier_prediction_changelist")).content.decode()
    assert f'<a href="{reverse("review:queue")}">Review queue</a>' in changelist
    client.logout()
    assert client.get(reverse("review:queue")).status_code == 302
    assert client.post(reverse("review:decide", args=[queue_rows[0].pk]), {"decision": "dog"}).status_code == 302
    assert Prediction.objects.get(pk=queue_rows[0].pk).true_label == ""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_keys_in_chromium_label_advance_and_undo(live_server, client, django_user_model, monkeypatch):
    """Keyboard alone, in a real headless Chromium, on a phone-sized screen: 3 labels dog and moves on, Enter confirms,
    s skips, z undoes."""
    from playwright.sync_api import expect

    from tests.e2e.conftest import staff_page

    first = done(p_top=0.9, p_second=0.05, pet_score=0.51)
    second = done(p_top=0.5, p_second=0.4)
    third = done(p_top=0.95, p_second=0.01)
    user = django_user_model.objects.create_superuser("keys", "k@example.com", "pw-for-tests")

    with staff_page(live_server, client, user, monkeypatch, viewport={"width": 390, "height": 844}) as page:
        page.goto(live_server.url + reverse("review:queue"))
        queue = page.locator("#queue")
        expect(queue).to_have_attribute("data-prediction", str(first.pk))
        expect(page.locator("#count-left")).to_have_text("3")

        page.keyboard.press("3")
        expect(queue).to_have_attribute("data-prediction", str(second.pk))
        expect(page.locator("#count-left")).to_have_text("2")
        assert Prediction.objects.get(pk=first.pk).true_label == "dog"

        page.keyboard.press("Enter")
        expect(queue).to_have_attribute("data-prediction", str(third.pk))
        assert Prediction.objects.get(pk=second.pk).true_label == "cat"

        page.keyboard.press("z")  # undo the confirmation: the second photo is back, unreviewed
        expect(queue).to_have_attribute("data-prediction", str(second.pk))
        expect(page.locator("#true-label")).to_have_text("not reviewed")
        assert Prediction.objects.get(pk=second.pk).true_label == ""

        page.keyboard.press("u")  # not a pet
        expect(queue).to_have_attribute("data-prediction", str(third.pk))
        assert Prediction.objects.get(pk=second.pk).true_label == "unknown"
        page.keyboard.press("s")  # skipped photos come back after the others; here it is the last one left
        expect(page.locator("#count-skipped")).to_have_text("1")
        expect(page.locator("#count-left")).to_have_text("0")
        expect(queue).to_have_attribute("data-prediction", str(third.pk))
        page.keyboard.press("z")
        expect(page.locator("#count-skipped")).to_have_text("0")
        # Phone-usable: the buttons fit the screen and work by tap.
        button = page.locator('button[data-key="6"]')
        box = button.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] >= 40
        button.click()
        expect(page.locator("#done")).to_be_visible()
        assert Prediction.objects.get(pk=third.pk).true_label == "hamster"
    assert os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE") == "true"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_fallback_post_keeps_the_decision_and_runs_only_on_network_errors(live_server, client, django_user_model, monkeypatch):
    """When fetch cannot reach the server the form is posted by the browser, with the pressed key's decision; an
    answer that came back (here an error page) is shown, never posted a second time."""
    from playwright.sync_api import expect

    from tests.e2e.conftest import staff_page

    first = done(p_top=0.9, p_second=0.05, pet_score=0.51)
    second = done(p_top=0.5, p_second=0.4)
    user = django_user_model.objects.create_superuser("keys", "k@example.com", "pw-for-tests")
    posts = []
    answer_with = {"fetch": "abort"}

    def decide(route):
        request = route.request
        navigation = request.is_navigation_request()
        posts.append(("navigation" if navigation else "fetch", request.post_data))
        if navigation:
            route.continue_()
        elif answer_with["fetch"] == "abort":
            route.abort("internetdisconnected")
        else:
            route.fulfill(status=500, content_type="text/html", body="<html><body><p id='oops'>Server error</p></body></html>")

    with staff_page(live_server, client, user, monkeypatch) as page:
        page.route(lambda url: "/decide" in url, decide)
        page.goto(live_server.url + reverse("review:queue"))
        queue = page.locator("#queue")
        expect(queue).to_have_attribute("data-prediction", str(first.pk))
        page.keyboard.press("3")  # fetch fails: the browser posts the form itself, "dog" included
        expect(queue).to_have_attribute("data-prediction", str(second.pk))
        assert [kind for kind, _ in posts] == ["fetch", "navigation"] and "decision=dog" in posts[1][1]
        assert Prediction.objects.get(pk=first.pk).true_label == "dog"

        posts.clear()
        answer_with["fetch"] = "500"
        page.keyboard.press("1")  # the server answered: its page is shown, the form is not posted again
        expect(page.locator("#oops")).to_be_visible()
        page.wait_for_timeout(500)
        assert [kind for kind, _ in posts] == ["fetch"]
        assert Prediction.objects.get(pk=second.pk).true_label == ""


def test_the_queue_shows_the_display_copy_not_the_original(staff_client, queue_rows):
    prediction = queue_rows[2]  # first in the queue
    prediction.display_image.save("d.jpg", ContentFile(color_image_bytes((200, 30, 30)), name="d.jpg"))
    page = staff_client.get(reverse("review:queue")).content.decode()
    assert f'data-prediction="{prediction.pk}"' in page
    assert prediction.display_image.url in page and prediction.image.url not in page


def test_a_confident_not_a_pet_answer_ranks_by_its_pet_score_alone(queue_rows):
    """A certain non-pet whose closest pets are close to each other (Dog 36% vs Dragon 33%) is not uncertain: only its
    pet score's distance from the threshold counts. A pet answer still takes the smaller of the two."""
    sure, close_classes, borderline_pet, _ = queue_rows
    not_a_pet = done(top="dog", p_top=0.36, second="dragon", p_second=0.33, pet_score=0.02)  # 0.48 from the threshold
    Prediction.objects.filter(pk=not_a_pet.pk).update(label="unknown", confidence=0.98)
    borderline_not_a_pet = done(top="dog", p_top=0.36, second="dragon", p_second=0.33, pet_score=0.46)  # 0.04
    Prediction.objects.filter(pk=borderline_not_a_pet.pk).update(label="unknown", confidence=0.54)
    assert selectors.review_uncertainty({"dog": 0.36, "dragon": 0.33}, 0.02, 0.5, True) == pytest.approx(0.48)
    assert selectors.review_uncertainty({"dog": 0.36, "dragon": 0.33}, 0.9, 0.5, False) == pytest.approx(0.03)
    # borderline_pet 0.02, borderline_not_a_pet 0.04, close_classes 0.05, not_a_pet 0.48, sure 0.49 (min(0.92, 0.49))
    assert selectors.review_queue() == [borderline_pet.pk, borderline_not_a_pet.pk, close_classes.pk, not_a_pet.pk, sure.pk]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_enter_on_a_focused_button_or_link_does_that_controls_action(live_server, client, django_user_model, monkeypatch):
    """Enter on the Skip button reached with Tab skips (it does not confirm); Enter on a focused link follows it; the
    single-letter keys still work while a button has focus, but not while typing into a field."""
    from playwright.sync_api import expect

    from tests.e2e.conftest import staff_page

    first = done(p_top=0.9, p_second=0.05, pet_score=0.51)
    second = done(p_top=0.5, p_second=0.4)
    user = django_user_model.objects.create_superuser("keys", "k@example.com", "pw-for-tests")

    def tab_to(page, selector):
        for _ in range(60):
            page.keyboard.press("Tab")
            if page.evaluate("s => document.activeElement === document.querySelector(s)", selector):
                return
        raise AssertionError(f"Tab never reached {selector}")

    with staff_page(live_server, client, user, monkeypatch) as page:
        page.goto(live_server.url + reverse("review:queue"))
        queue = page.locator("#queue")
        expect(queue).to_have_attribute("data-prediction", str(first.pk))

        tab_to(page, 'button[value="skip"]')
        page.keyboard.press("Enter")  # skipped, not confirmed
        expect(page.locator("#count-skipped")).to_have_text("1")
        expect(queue).to_have_attribute("data-prediction", str(second.pk))
        expect(page.locator("#count-reviewed")).to_have_text("0")
        assert Prediction.objects.get(pk=first.pk).true_label == ""

        # Typing into a field: no shortcut ("3" is not "dog").
        page.locator('input[name="since"]').focus()
        page.keyboard.press("3")
        page.wait_for_timeout(300)
        expect(queue).to_have_attribute("data-prediction", str(second.pk))
        assert Prediction.objects.get(pk=second.pk).true_label == ""
        # A letter while a button has focus still works.
        page.locator('button[value="skip"]').focus()
        page.keyboard.press("3")
        expect(page.locator("#count-reviewed")).to_have_text("1")
        assert Prediction.objects.get(pk=second.pk).true_label == "dog"

        # Enter on "Undo last" undoes (the dog label), not "Model is right".
        page.locator("#undo button").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#count-reviewed")).to_have_text("0")
        expect(queue).to_have_attribute("data-prediction", str(second.pk))
        assert Prediction.objects.get(pk=second.pk).true_label == ""

        # Enter on the "Predictions" link follows it.
        tab_to(page, 'header a[href$="/classifier/prediction/"]')
        page.keyboard.press("Enter")
        page.wait_for_url("**/admin/classifier/prediction/")
        assert not Prediction.objects.exclude(true_label="").exists()


def test_the_queue_says_over_99_and_under_1_percent_never_100_or_0(staff_client):
    """The public pages' wording (the `percent` filter) for the answer, the pet score and the bars."""
    sure = done(p_top=1.0, p_second=0.0, pet_score=0.0001)
    Prediction.objects.filter(pk=sure.pk).update(label="unknown", confidence=0.9999)
    page = staff_client.get(reverse("review:queue")).content.decode()
    assert f'data-prediction="{sure.pk}"' in page
    assert '<span id="model-sure">over 99% sure</span>' in page and '<strong id="pet-score">under 1%</strong>' in page
    assert '<span class="pct">over 99%</span>' in page and '<span class="pct">under 1%</span>' in page
    assert ">100%<" not in page and ">0%<" not in page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_staff_pages_ask_for_no_favicon_file_and_keep_content_in_landmarks(live_server, client, django_user_model, monkeypatch, queue_rows):
    """The review queue and curation pages carry the site's icon (no /favicon.ico request, a 404) and axe finds no
    content outside landmarks ("region")."""
    from axe_playwright_python.sync_playwright import Axe
    from tests.e2e.conftest import staff_page

    user = django_user_model.objects.create_superuser("keys", "k@example.com", "pw-for-tests")
    with staff_page(live_server, client, user, monkeypatch) as page:
        asked = []
        page.on("request", lambda request: asked.append(request.url))
        for url in (reverse("review:queue"), reverse("ingestion_curation:curate")):
            page.goto(live_server.url + url)
            page.wait_for_load_state("networkidle")
            assert page.locator('link[rel="icon"]').count() == 1
            found = {v["id"]: v for v in Axe().run(page).response["violations"]}
            assert "region" not in found, found.get("region")
        for url in (reverse("admin:index"), reverse("admin:classifier_prediction_changelist"),
                    reverse("admin:ingestion_scrapejob_add")):  # the admin's own pages carry it too
            page.goto(live_server.url + url)
            page.wait_for_load_state("networkidle")
            assert page.locator('link[rel="icon"]').count() == 1, url
        assert not [u for u in asked if u.endswith("/favicon.ico")], asked


def test_a_pet_answer_from_a_model_without_a_threshold_ranks_by_its_margin(queue_rows):
    """A model without a threshold never answers "not a pet": its row (top share 0.45 standing in as pet score, second
    0.44) is a pet answer with a margin of 0.01, not a "not a pet" 0.05 from the assumed 0.5. The stored label decides."""
    sure, close_classes, borderline_pet, _ = queue_rows
    unsure_pet = done(top="cat", p_top=0.45, second="dog", p_second=0.44, pet_score=0.45)
    assert selectors.review_uncertainty(unsure_pet.probabilities, 0.45, 0.5, False) == pytest.approx(0.01)
    # unsure_pet 0.01, borderline_pet 0.02, close_classes 0.05, sure 0.49
    assert selectors.review_queue() == [unsure_pet.pk, borderline_pet.pk, close_classes.pk, sure.pk]
