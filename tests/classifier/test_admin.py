"""Staff review in the admin: single relabel on the change form, bulk actions, reviewer and time recorded."""
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from classifier.models import Prediction
from tests.classifier.conftest import BLUE, GREEN, RED

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:classifier_prediction_changelist")


def change_url(prediction):
    return reverse("admin:classifier_prediction_change", args=[prediction.pk])


def assert_reviewed(prediction, label, user):
    prediction.refresh_from_db()
    assert prediction.true_label == label
    assert prediction.reviewed_by == user
    assert prediction.reviewed_at is not None
    assert timezone.now() - prediction.reviewed_at < timedelta(minutes=1)


def assert_unreviewed(prediction):
    prediction.refresh_from_db()
    assert prediction.true_label == "" and prediction.reviewed_by is None and prediction.reviewed_at is None


def test_changelist_shows_thumbnail_class_confidence_and_review_columns(staff_client, make_prediction):
    from classifier.models import Prediction

    prediction = make_prediction(RED)
    Prediction.objects.filter(pk=prediction.pk).update(label="cat", confidence=0.8, pet_score=0.5)
    response = staff_client.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert prediction.thumbnail.url in html
    headers = re.findall(r'<div class="text"><(?:a|span)[^>]*>([^<]+)</', html)
    assert headers == ["ID", "Photo", "Answer", "Sure", "Reviewed", "Uploaded"]  # narrow: see the browser test
    assert '<td class="field-answer">Cat</td>' in html
    assert '<td class="field-confidence_pct">40% (80% among the six pets)</td>' in html  # the result page's figure first
    assert '<td class="field-review">-</td>' in html  # not reviewed yet


def test_changelist_answer_column_says_the_status_until_there_is_an_answer(staff_client, make_prediction):
    make_prediction(classify=False)
    failed = make_prediction(classify=False)
    Prediction.objects.filter(pk=failed.pk).update(status="failed", error="The photo could not be read.")
    html = staff_client.get(CHANGELIST).content.decode()
    assert '<td class="field-answer">Classifying</td>' in html
    assert '<td class="field-answer"><span title="The photo could not be read.">Failed</span></td>' in html  # why, on hover
    assert html.count('<td class="field-confidence_pct">-</td>') == 2  # no figure for either


def test_changelist_review_column_has_the_label_who_and_when_and_dates_are_short(staff_client, staff_user, make_prediction):
    from classifier import services

    long_name = "holiday-" + "x" * 120 + ".jpg"
    prediction = make_prediction(GREEN, name=long_name)
    services.relabel(Prediction.objects.filter(pk=prediction.pk), "dragon", staff_user)
    prediction.refresh_from_db()
    html = staff_client.get(CHANGELIST).content.decode()
    reviewed, uploaded = timezone.localtime(prediction.reviewed_at), timezone.localtime(prediction.created_at)
    assert (
        '<td class="field-review"><strong>Bearded dragon</strong><span class="detail">'
        '<span class="clip" title="reviewer">reviewer</span> '
        f'<time datetime="{reviewed.isoformat()}"><span class="nowrap">{reviewed:%Y-%m-%d}</span> '
        f'<span class="nowrap">{reviewed:%H:%M}</span></time></span></td>'
    ) in html
    assert (
        f'<time datetime="{uploaded.isoformat()}"><span class="nowrap">{uploaded:%Y-%m-%d}</span> '
        f'<span class="nowrap">{uploaded:%H:%M}</span></time><span class="detail clip" title="{long_name}">{long_name}</span></td>'
    ) in html  # the whole name, cut to the column by the page's CSS


def test_admin_says_over_99_and_under_1_percent_never_100_or_0(staff_client, make_prediction):
    """The public pages' wording (the `percent` filter): a model is never certain."""
    from classifier.models import Prediction

    prediction = make_prediction()
    probabilities = dict.fromkeys(prediction.probabilities, 0.0)
    probabilities["cat"] = 1.0
    Prediction.objects.filter(pk=prediction.pk).update(confidence=1.0, probabilities=probabilities, pet_score=0.9999)
    html = staff_client.get(CHANGELIST).content.decode()
    assert '<td class="field-confidence_pct">over 99%</td>' in html and "100.0%" not in html  # the share words the same: once
    page = staff_client.get(f"/admin/classifier/prediction/{prediction.pk}/change/").content.decode()
    assert '<span style="text-align:right">over 99%</span>' in page and '<span style="text-align:right">under 1%</span>' in page
    assert "100.0%</span>" not in page and ">0.0%<" not in page
    assert re.search(r'field-pet_score_pct.*?<div class="readonly">over 99%</div>', page, re.S)  # no threshold known: the figure alone


def test_changelist_filters_and_search(staff_client, make_prediction, staff_user):
    cat, dog = make_prediction(RED), make_prediction(GREEN)
    from classifier import services

    services.relabel(Prediction.objects.filter(pk=dog.pk), "dog", staff_user)

    def ids(query):
        response = staff_client.get(CHANGELIST, query)
        assert response.status_code == 200
        return {obj.pk for obj in response.context["cl"].result_list}

    assert ids({"label__exact": "cat"}) == {cat.pk}
    assert ids({"reviewed": "yes"}) == {dog.pk}
    assert ids({"reviewed": "no"}) == {cat.pk}
    assert cat.content_hash != dog.content_hash
    assert ids({"q": cat.content_hash}) == {cat.pk}


def test_single_relabel_on_the_change_form_records_reviewer_and_time(staff_client, staff_user, make_prediction):
    prediction = make_prediction(RED)
    page = staff_client.get(change_url(prediction))
    assert page.status_code == 200 and prediction.image.url in page.content.decode()

    response = staff_client.post(change_url(prediction), {"true_label": "dog", "_save": "Save"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert_reviewed(prediction, "dog", staff_user)
    assert prediction.label == "cat"  # the prediction itself is untouched
    # the saved message names the new label, not only the model's answer
    assert f"Prediction {prediction.pk} (done: cat, checked as dog)" in staff_client.get(response["Location"]).content.decode()


def test_clearing_the_label_on_the_change_form_clears_the_review(staff_client, staff_user, make_prediction):
    prediction = make_prediction(RED)
    staff_client.post(change_url(prediction), {"true_label": "dog", "_save": "Save"})
    response = staff_client.post(change_url(prediction), {"true_label": "", "_save": "Save"})
    assert response.status_code == 302
    assert_unreviewed(prediction)


def test_bulk_mark_as_correct_confirms_finished_predictions_only(staff_client, staff_user, make_prediction):
    cat, fish = make_prediction(RED), make_prediction(BLUE)
    pending = make_prediction(GREEN, classify=False)
    response = staff_client.post(CHANGELIST, {"action": "mark_as_correct", "_selected_action": [cat.pk, fish.pk, pending.pk]})
    assert response.status_code == 302
    assert_reviewed(cat, "cat", staff_user)
    assert_reviewed(fish, "fish", staff_user)
    assert_unreviewed(pending)


@pytest.mark.parametrize("label", ["dragon", "hamster", "unknown"])
def test_bulk_relabel_as_a_class(staff_client, staff_user, make_prediction, label):
    chosen = [make_prediction(RED), make_prediction(GREEN)]
    other = make_prediction(BLUE)
    response = staff_client.post(CHANGELIST, {"action": f"relabel_as_{label}", "_selected_action": [p.pk for p in chosen]})
    assert response.status_code == 302
    for prediction in chosen:
        assert_reviewed(prediction, label, staff_user)
    assert_unreviewed(other)


def test_relabel_actions_exist_for_every_class(staff_client, make_prediction):
    make_prediction()
    html = staff_client.get(CHANGELIST).content.decode()
    for label in ("bird", "cat", "dog", "dragon", "fish", "hamster"):
        assert f'value="relabel_as_{label}"' in html
    assert "Relabel as Bearded dragon" in html
    assert 'value="mark_as_correct"' in html


def test_anonymous_is_sent_to_login_and_changes_nothing(client, make_prediction):
    prediction = make_prediction()
    for url in (CHANGELIST, change_url(prediction)):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    response = client.post(CHANGELIST, {"action": "relabel_as_dog", "_selected_action": [prediction.pk]})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.post(change_url(prediction), {"true_label": "dog", "_save": "Save"})
    assert_unreviewed(prediction)


def test_non_staff_user_is_refused(client, django_user_model, make_prediction):
    prediction = make_prediction()
    user = django_user_model.objects.create_user("visitor", password="pw-visitor-123")
    client.force_login(user)
    response = client.get(CHANGELIST)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.post(CHANGELIST, {"action": "mark_as_correct", "_selected_action": [prediction.pk]})
    client.post(change_url(prediction), {"true_label": "dog", "_save": "Save"})
    assert_unreviewed(prediction)


def test_staff_without_permission_is_forbidden(client, django_user_model, make_prediction):
    prediction = make_prediction()
    user = django_user_model.objects.create_user("intern", password="pw-intern-123", is_staff=True)
    client.force_login(user)
    assert client.get(CHANGELIST).status_code == 403
    assert client.post(CHANGELIST, {"action": "mark_as_correct", "_selected_action": [prediction.pk]}).status_code == 403
    assert client.post(change_url(prediction), {"true_label": "dog", "_save": "Save"}).status_code == 403
    assert_unreviewed(prediction)


def test_view_only_staff_cannot_run_the_relabel_actions(client, django_user_model, make_prediction):
    from django.contrib.auth.models import Permission

    prediction = make_prediction()
    user = django_user_model.objects.create_user("viewer", password="pw-viewer-123", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_prediction"))
    client.force_login(user)
    assert client.get(CHANGELIST).status_code == 200
    client.post(CHANGELIST, {"action": "relabel_as_dog", "_selected_action": [prediction.pk]})
    client.post(change_url(prediction), {"true_label": "dog", "_save": "Save"})
    assert_unreviewed(prediction)


def test_admin_cannot_add_predictions(staff_client):
    assert staff_client.get(reverse("admin:classifier_prediction_add")).status_code == 403


def test_deleting_predictions_in_the_admin_removes_their_photos(staff_client, make_prediction, django_capture_on_commit_callbacks):
    from pathlib import Path

    prediction = make_prediction()
    files = [Path(prediction.image.path), Path(prediction.thumbnail.path)]
    assert all(f.exists() for f in files)
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            "/admin/classifier/prediction/", {"action": "delete_selected", "_selected_action": [prediction.pk], "post": "yes"}
        )
    assert response.status_code == 302
    assert not Prediction.objects.filter(pk=prediction.pk).exists()
    assert not any(f.exists() for f in files)


def test_change_form_draws_the_probabilities_as_bars(staff_client, make_prediction):
    prediction = make_prediction()  # red: the tiny model says cat
    page = staff_client.get(f"/admin/classifier/prediction/{prediction.pk}/change/").content.decode()
    cat = prediction.probabilities["cat"] * 100
    assert f"width:{cat:.1f}%;background:#2563eb" in page  # the predicted class is the dark bar
    assert page.count("border-radius:6px;overflow:hidden") == 6
    assert "Bearded dragon" in page


def history_entries(prediction):
    """The admin history of one prediction, oldest first: (user name, change message)."""
    from django.contrib.admin.models import LogEntry

    entries = LogEntry.objects.filter(content_type__model="prediction", object_id=str(prediction.pk)).order_by("action_time", "pk")
    return [(entry.user.username, entry.get_change_message()) for entry in entries]


def test_bulk_mark_as_correct_never_overwrites_a_reviewers_label_and_says_so(staff_client, staff_user, django_user_model, make_prediction):
    from classifier import services

    corrected, fresh = make_prediction(RED), make_prediction(BLUE)  # the model says cat and fish
    pending = make_prediction(GREEN, classify=False)
    first_reviewer = django_user_model.objects.create_user("first", is_staff=True)
    services.relabel(Prediction.objects.filter(pk=corrected.pk), "dog", first_reviewer)
    corrected.refresh_from_db()
    reviewed_at = corrected.reviewed_at

    response = staff_client.post(
        CHANGELIST, {"action": "mark_as_correct", "_selected_action": [corrected.pk, fresh.pk, pending.pk]}, follow=True
    )
    text = response.content.decode()
    assert "Confirmed 1 prediction." in text
    assert "Skipped 1 already labelled by a reviewer (their labels were kept)." in text
    assert "Skipped 1 not classified yet or failed." in text
    corrected.refresh_from_db()
    assert (corrected.true_label, corrected.reviewed_by, corrected.reviewed_at) == ("dog", first_reviewer, reviewed_at)
    assert_reviewed(fresh, "fish", staff_user)
    assert_unreviewed(pending)
    assert history_entries(corrected) == [("first", "Relabelled as Dog (was not reviewed).")]
    assert history_entries(fresh) == [("reviewer", "Confirmed the predicted label Fish.")]
    assert history_entries(pending) == []


def test_every_review_change_is_in_the_admin_history_with_who_and_when(staff_client, staff_user, make_prediction):
    from django.contrib.admin.models import LogEntry

    prediction = make_prediction(RED)
    started = timezone.now()
    staff_client.post(CHANGELIST, {"action": "relabel_as_hamster", "_selected_action": [prediction.pk]})
    staff_client.post(change_url(prediction), {"true_label": "dog", "_save": "Save"})  # the change form
    staff_client.post(change_url(prediction), {"true_label": "dog", "_save": "Save"})  # unchanged: nothing to log
    staff_client.post(change_url(prediction), {"true_label": "", "_save": "Save"})  # clearing the review
    staff_client.post(CHANGELIST, {"action": "mark_as_correct", "_selected_action": [prediction.pk]})

    assert history_entries(prediction) == [
        ("reviewer", "Relabelled as Hamster (was not reviewed)."),
        ("reviewer", "Relabelled as Dog (was Hamster)."),
        ("reviewer", "Cleared the review (was Dog)."),
        ("reviewer", "Confirmed the predicted label Cat."),
    ]
    times = LogEntry.objects.filter(object_id=str(prediction.pk)).values_list("action_time", flat=True)
    assert all(started <= at <= timezone.now() for at in times)
    page = staff_client.get(reverse("admin:classifier_prediction_history", args=[prediction.pk])).content.decode()
    assert "Relabelled as Dog (was Hamster)." in page and "Cleared the review (was Dog)." in page and "reviewer" in page
