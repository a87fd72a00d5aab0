"""The JSON API's shape: POST answers 202 {id, status, url}; GET answers the stored prediction."""
from datetime import datetime

import pytest
from django.urls import reverse

from classifier.models import Prediction
from ingestion.labels import CLASSES
from tests.classifier.conftest import jpeg_bytes, upload_file

pytestmark = pytest.mark.django_db

FIELDS = {"id", "status", "label", "confidence", "probabilities", "model_version", "created_at", "completed_at", "true_label", "error"}


def test_post_answers_202_with_id_status_and_url(client):
    response = client.post(reverse("api:predictions"), {"image": upload_file("cat.jpg", jpeg_bytes())})
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"id", "status", "url"}
    assert body["status"] == "pending"
    assert body["url"] == f"/api/predictions/{body['id']}/"
    assert Prediction.objects.filter(pk=body["id"], status="pending").exists()


def test_post_needs_no_csrf_token(client):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(reverse("api:predictions"), {"image": upload_file()})
    assert response.status_code == 202


def test_get_pending_prediction(client):
    created = client.post(reverse("api:predictions"), {"image": upload_file()}).json()
    body = client.get(created["url"]).json()
    assert FIELDS <= set(body)
    assert body["id"] == created["id"]
    assert body["status"] == "pending"
    assert body["label"] is None and body["confidence"] is None and body["probabilities"] == {}
    assert body["completed_at"] is None and body["error"] is None and body["true_label"] is None
    datetime.fromisoformat(body["created_at"])


def test_get_done_prediction(client, make_prediction, staff_user):
    from classifier import services

    prediction = make_prediction()
    services.relabel(Prediction.objects.filter(pk=prediction.pk), "dog", staff_user)
    response = client.get(reverse("api:prediction", args=[prediction.pk]))
    assert response.status_code == 200
    body = response.json()
    assert FIELDS <= set(body)
    assert body["status"] == "done"
    assert body["label"] == "cat"
    assert set(body["probabilities"]) == set(CLASSES)
    assert body["confidence"] == pytest.approx(body["probabilities"]["cat"])
    assert body["model_version"] == "tiny-test"
    assert datetime.fromisoformat(body["completed_at"]) >= datetime.fromisoformat(body["created_at"])
    assert body["true_label"] == "dog"
    assert body["error"] is None


def test_get_failed_prediction_carries_the_error(client, make_prediction, settings):
    prediction = make_prediction(classify=False)
    (settings.MEDIA_ROOT / prediction.image.name).write_bytes(b"not an image any more")
    from classifier import services

    services.classify_prediction(prediction.pk)
    body = client.get(reverse("api:prediction", args=[prediction.pk])).json()
    assert body["status"] == "failed"
    assert body["label"] is None
    assert body["error"]


def test_unknown_prediction_is_404(client):
    assert client.get(reverse("api:prediction", args=[424242])).status_code == 404
    assert client.get("/predictions/424242/").status_code == 404


def test_wrong_methods_are_405(client, make_prediction):
    assert client.put(reverse("api:predictions")).status_code == 405
    prediction = make_prediction(classify=False)
    assert client.post(reverse("api:prediction", args=[prediction.pk])).status_code == 405


def test_prediction_page_shows_the_result_and_six_bars(client, make_prediction):
    prediction = make_prediction()
    html = client.get(prediction.get_absolute_url()).content.decode()
    assert 'data-status="done"' in html
    assert '<h1 id="headline">Cat</h1>' in html
    assert html.count("<li data-label=") == 6  # the six pets; the tiny model has no pet score, so no "Not a pet" line
    assert 'data-label="unknown"' not in html and ">Among the six pets</h2>" in html
    assert "Bearded dragon" in html
    # A display-size copy, never the original upload.
    assert prediction.display_image.url in html and prediction.image.url not in html


@pytest.mark.django_db
def test_api_errors_are_json_never_html(client):
    missing = client.get("/api/predictions/999999/")
    assert missing.status_code == 404 and missing.json() == {"error": "No prediction with id 999999."}

    wrong_method = client.delete("/api/predictions/1/")
    assert wrong_method.status_code == 405 and "not allowed" in wrong_method.json()["error"]
    assert wrong_method["Allow"] == "GET, HEAD"

    listing = client.delete("/api/predictions/")
    assert listing.status_code == 405 and listing["Allow"] == "GET, HEAD, POST" and "use GET or HEAD or POST" in listing.json()["error"]
