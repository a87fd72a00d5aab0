"""Words a new visitor tripped over (Django test client): the result page names the model version in small print for
people ("Answered by model version ..."), not as "Model default-openset-6", while the API and the staff pages keep the
bare version; the history filter reads "Checked by our team: Any / Checked / Not checked yet" with the same query
parameters; every API parameter says what it is (the `id` in the path too)."""
import re
from html import unescape as html_unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from classifier import selectors
from classifier.models import Prediction
from tests.classifier.test_public_pages import SHARES, visible

pytestmark = pytest.mark.django_db

HISTORY = reverse("classifier:history")


def done(**extra):
    return Prediction.objects.create(**{
        "image": "uploads/x.jpg", "display_image": "display/x.jpg", "thumbnail": "thumbnails/x.jpg", "status": "done",
        "label": "dragon", "pet_score": 0.99, "confidence": 0.9, "probabilities": SHARES, "model_version": "default-openset-6",
        "width": 10, "height": 10, "completed_at": timezone.now(), **extra})


# 2. The model version: small print in words on the public page; the API and staff pages unchanged.

def test_the_result_page_names_the_model_version_in_small_print_for_people(client):
    html = client.get(done().get_absolute_url()).content.decode()
    meta = re.search(r'<p class="([^"]*)" id="meta">(.*?)</p>', html, re.S)
    assert meta, "the version is still on the page"
    assert set(meta.group(1).split()) >= {"muted", "small"}
    assert visible(meta.group(2)) == "Answered by model version default-openset-6"
    assert "Model default-openset-6" not in visible(html)
    # Small print at the bottom: after the figures and what to do next.
    assert html.index('id="meta"') > html.index('id="bars"') and html.index('id="meta"') > html.index("Classify another photo")


@pytest.mark.parametrize("status", ["pending", "failed"])
def test_an_unanswered_photo_claims_no_model_answered_it(client, status):
    prediction = done(status=status, label="", confidence=None, pet_score=None, probabilities={},
                      error="Gave up after several attempts" if status == "failed" else "")
    assert 'id="meta"' not in client.get(prediction.get_absolute_url()).content.decode()


def test_the_api_and_the_staff_pages_keep_the_bare_model_version(client, staff_client):
    prediction = done()
    assert client.get(reverse("api:prediction", args=[prediction.pk])).json()["model_version"] == "default-openset-6"
    change = staff_client.get(reverse("admin:classifier_prediction_change", args=[prediction.pk])).content.decode()
    assert "default-openset-6" in change
    queue = staff_client.get(reverse("review:queue")).content.decode()
    assert "default-openset-6" in queue


# 3. The history filter reads naturally; its query parameters and what they do are unchanged.

def test_the_history_filter_reads_checked_by_our_team_any_checked_not_checked_yet(client):
    checked, unchecked = done(true_label="dragon"), done()
    html = client.get(HISTORY).content.decode()
    assert re.search(r'<label for="id_reviewed">Checked by our team</label>', html)
    select = html.split('<select name="reviewed"')[1].split("</select>")[0]
    options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select)
    assert options == [("", "Any"), ("yes", "Checked"), ("no", "Not checked yet")]
    assert "Checked or not" not in html
    shown = lambda response: {int(pk) for pk in re.findall(r'data-prediction="(\d+)"', response.content.decode())}  # noqa: E731
    assert shown(client.get(HISTORY, {"reviewed": "yes"})) == {checked.pk}
    assert shown(client.get(HISTORY, {"reviewed": "no"})) == {unchecked.pk}
    assert shown(client.get(HISTORY, {"reviewed": ""})) == {checked.pk, unchecked.pk}
    assert 'selected>Checked</option>' in client.get(HISTORY, {"reviewed": "yes"}).content.decode()


# 5. One fact in one place: the home page's count of recent photos is whole rows of the tile grid's columns.

def test_recent_photos_are_whole_rows_of_the_tile_grid(client):
    for _ in range(selectors.RECENT_COUNT + 2):
        done()
    html = client.get(reverse("classifier:home")).content.decode()
    assert f"repeat({selectors.TILE_COLUMNS}, minmax(0, 1fr))" in html
    assert f"repeat({selectors.PHONE_TILE_COLUMNS}, minmax(0, 1fr))" in html
    assert html.count('class="tile"') == selectors.RECENT_COUNT


# 7. Every parameter of the API says what it is.

def test_every_api_parameter_has_a_description(client):
    document = client.get("/api/schema/").json()
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for parameter in operation.get("parameters", []):
                assert parameter.get("description", "").strip(), f"{method.upper()} {path}: {parameter['name']}"
    html = client.get("/api/docs/").content.decode()
    section = html.split('id="getPrediction"')[1].split("</section>")[0]
    row = re.search(r"<tr><td><code>id</code></td><td>path</td><td>(.*?)</td></tr>", section, re.S)
    assert row and html_unescape(visible(row.group(1))).startswith("The prediction's id")
