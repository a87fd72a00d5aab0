"""The history page: newest first, paginated, filterable by answer (the reviewed label when there is one) and by reviewed."""
import re

import pytest
from django.urls import reverse

from classifier.models import Prediction

pytestmark = pytest.mark.django_db

HISTORY = reverse("classifier:history")


@pytest.fixture
def predictions(settings, django_user_model):
    """Seven finished predictions (oldest first): cat, dog, cat, fish, cat, dog, cat; #1 and #2 reviewed."""
    settings.PETSITE_PAGE_SIZE = 3
    reviewer = django_user_model.objects.create_user("r", is_staff=True)
    rows = []
    for index, label in enumerate(["cat", "dog", "cat", "fish", "cat", "dog", "cat"]):
        rows.append(Prediction.objects.create(
            image=f"uploads/test/{index}.jpg", thumbnail=f"thumbnails/{index}.jpg", status="done", label=label,
            confidence=0.5 + index / 100, probabilities={label: 0.9}, width=10, height=10,
        ))
    Prediction.objects.filter(pk__in=[rows[1].pk, rows[2].pk]).update(true_label="dog", reviewed_by=reviewer)
    return rows


def shown(response):
    assert response.status_code == 200
    return [int(pk) for pk in re.findall(r'data-prediction="(\d+)"', response.content.decode())]


def test_newest_first_and_paginated(client, predictions):
    newest_first = [p.pk for p in reversed(predictions)]
    page1 = client.get(HISTORY)
    assert shown(page1) == newest_first[:3]
    html = page1.content.decode()
    assert "Page 1 of 3" in html and "7 predictions" in html
    assert 'href="?page=2"' in html
    assert shown(client.get(HISTORY, {"page": 2})) == newest_first[3:6]
    assert shown(client.get(HISTORY, {"page": 3})) == newest_first[6:]
    assert shown(client.get(HISTORY, {"page": 99})) == newest_first[6:]  # out of range: the last page, and it says so
    assert shown(client.get(HISTORY, {"page": "abc"})) == newest_first[:3]


@pytest.mark.parametrize("asked, showing, message", [
    ("99", 3, "There is no page 99; showing page 3 of 3."),
    ("0", 1, "There is no page 0; showing page 1 of 3."),
    ("-2", 1, "There is no page -2; showing page 1 of 3."),
    ("abc", 1, "“abc” is not a page number; showing page 1."),
])
def test_a_page_that_does_not_exist_is_reported(client, predictions, asked, showing, message):
    html = client.get(HISTORY, {"page": asked}).content.decode()
    assert f"Page {showing} of 3" in html
    assert f'<p class="notice" role="alert" id="filter-error">{message}</p>' in html


def test_pages_that_exist_say_nothing(client, predictions):
    for asked in ("", "1", "2", "3"):
        assert 'id="filter-error"' not in client.get(HISTORY, {"page": asked} if asked else {}).content.decode()


def test_title_heading_and_review_filter_words_agree(client, predictions):
    html = client.get(HISTORY).content.decode()
    assert "<title>Past predictions · petsite</title>" in html and "<h1>Past predictions</h1>" in html
    select = html.split('<select name="reviewed"')[1].split("</select>")[0]
    options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select)
    assert options == [("", "Any"), ("yes", "Checked"), ("no", "Not checked yet")]
    assert "Reviewed" not in select


def test_tiles_link_to_their_pages_with_thumbnails(client, predictions):
    html = client.get(HISTORY).content.decode()
    newest = predictions[-1]
    assert f'href="{newest.get_absolute_url()}"' in html
    assert newest.thumbnail.url in html


def test_filter_by_class_uses_the_reviewed_label_when_there_is_one(client, predictions):
    # #2 was predicted cat but staff relabelled it as dog: it is a dog now.
    cats = [p.pk for p in reversed(predictions) if p.label == "cat" and p.pk != predictions[2].pk]
    assert shown(client.get(HISTORY, {"label": "cat"})) == cats
    dogs = [predictions[5].pk, predictions[2].pk, predictions[1].pk]
    assert shown(client.get(HISTORY, {"label": "dog"})) == dogs
    assert shown(client.get(HISTORY, {"label": "fish"})) == [predictions[3].pk]
    response = client.get(HISTORY, {"label": "bird"})
    assert shown(response) == [] and "No predictions match" in response.content.decode()


def test_filter_by_reviewed(client, predictions):
    assert shown(client.get(HISTORY, {"reviewed": "yes"})) == [predictions[2].pk, predictions[1].pk]
    not_reviewed = [p.pk for p in reversed(predictions) if p.pk not in (predictions[1].pk, predictions[2].pk)]
    assert shown(client.get(HISTORY, {"reviewed": "no"})) == not_reviewed[:3]
    assert shown(client.get(HISTORY, {"label": "dog", "reviewed": "yes"})) == [predictions[2].pk, predictions[1].pk]
    assert shown(client.get(HISTORY, {"label": "cat", "reviewed": "yes"})) == []


def test_pager_links_keep_the_filters(client, predictions):
    html = client.get(HISTORY, {"reviewed": "no"}).content.decode()
    assert 'href="?reviewed=no&amp;page=2"' in html
    assert "Page 1 of 2" in html
    assert '<input type="hidden" name="reviewed" value="no">' in html  # the page jump keeps them too


def test_bad_filter_values_are_reported_not_errors(client, predictions):
    response = client.get(HISTORY, {"label": "<script>", "reviewed": "maybe"})
    assert shown(response) == [p.pk for p in reversed(predictions)][:3]
    html = response.content.decode()
    assert "<script>" not in html.split('id="filters"')[1].split("</form>")[0]
    assert "There is no answer “&lt;script&gt;”; showing every answer instead." in html
    assert "“maybe” is not a review state" in html
    # A good filter beside a bad one still applies.
    assert shown(client.get(HISTORY, {"label": "cat", "reviewed": "maybe"})) == [predictions[6].pk, predictions[4].pk, predictions[0].pk]


def test_tiles_show_the_date_and_filters_have_labels(client, predictions):
    html = client.get(HISTORY).content.decode()
    assert html.count("<time datetime=") == 3
    assert '<label for="id_label">Answer</label>' in html and '<label for="id_reviewed">Checked by our team</label>' in html
    assert 's.form.submit()' not in html  # no reload on the first arrow key: the Filter button applies them
    assert 'id="jump-page"' in html


def test_failed_and_pending_tiles_say_so(client, settings):
    Prediction.objects.create(image="uploads/a.jpg", status="failed", error="broken", width=1, height=1)
    Prediction.objects.create(image="uploads/b.jpg", status="pending", width=1, height=1)
    html = client.get(HISTORY).content.decode()
    assert "Could not classify" in html and "Classifying…" in html


def test_a_page_of_tiles_costs_a_few_queries_not_one_per_tile(client, settings, django_assert_max_num_queries):
    from training.models import ModelVersion

    settings.PETSITE_PAGE_SIZE = 20
    for name in ("m1", "m2"):
        ModelVersion.objects.create(name=name, architecture="tiny", classes=[], input_size=32, file_path="x.keras", unknown_threshold=0.5)
    Prediction.objects.bulk_create(
        Prediction(image=f"uploads/test/{i}.jpg", thumbnail=f"thumbnails/{i}.jpg", status="done", label="cat", confidence=0.9,
                   probabilities={"cat": 0.9}, pet_score=0.55, model_version=f"m{i % 3}", width=10, height=10)
        for i in range(20)
    )  # m0 has no row: the threshold would come from the shipped model's card on disk
    with django_assert_max_num_queries(6):
        assert len(shown(client.get(HISTORY))) == 20
    with django_assert_max_num_queries(6):
        assert client.get(reverse("classifier:home")).status_code == 200
