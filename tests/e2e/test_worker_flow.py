"""Upload through the API to a live server; a real Celery worker on real Redis classifies it (SQLite and PostgreSQL)."""
import math

import pytest
import requests

from harness import http_json, wait_for_prediction
from ingestion.labels import CLASSES
from tests.conftest import color_image_bytes, pet_photos

pytestmark = [pytest.mark.services, pytest.mark.slow]

API_FIELDS = {"id", "status", "label", "confidence", "probabilities", "model_version", "created_at", "completed_at", "true_label", "error"}


@pytest.fixture(params=["sqlite", "postgres"])
def stack(request):
    return request.getfixturevalue(f"{request.param}_stack")


def stored_files(stack):
    return sorted(p for p in stack.media_root.rglob("*") if p.is_file())


def row(stack, prediction_id):
    rows = stack.query("SELECT status, label, image, thumbnail, model_version FROM classifier_prediction WHERE id = %s", (prediction_id,))
    assert len(rows) == 1, f"no row for prediction {prediction_id}"
    return dict(zip(("status", "label", "image", "thumbnail", "model_version"), rows[0]))


def upload(stack, name, data, content_type="image/jpeg"):
    return http_json(f"{stack.url}/api/predictions/", files={"image": (name, data, content_type)})


def test_upload_is_stored_classified_by_the_worker_and_shown(stack):
    status, body = upload(stack, "red.jpg", color_image_bytes((230, 20, 20)))
    assert status == 202, body
    assert set(body) == {"id", "status", "url"}
    assert body["status"] == "pending"
    assert body["url"] == f"/api/predictions/{body['id']}/"
    prediction_id = body["id"]

    stored = row(stack, prediction_id)
    image_path = stack.media_root / stored["image"]
    assert image_path.is_file() and image_path.suffix == ".jpg"

    result = wait_for_prediction(stack.url, prediction_id)
    assert result["status"] == "done", result
    # The copies are the worker's (made from the decode it classified), stored with the answer.
    assert (stack.media_root / row(stack, prediction_id)["thumbnail"]).is_file()
    assert result["thumbnail_url"] and result["display_url"]
    assert set(API_FIELDS) <= set(result)
    assert result["label"] == "cat"
    assert result["model_version"] == "tiny-test"
    assert result["error"] is None and result["true_label"] is None
    assert result["completed_at"] and result["created_at"] <= result["completed_at"]
    assert set(result["probabilities"]) == set(CLASSES)
    assert math.isclose(sum(result["probabilities"].values()), 1.0, abs_tol=1e-4)
    assert result["confidence"] == pytest.approx(max(result["probabilities"].values()))

    # The row was written by the worker process, not the web server.
    assert row(stack, prediction_id)["status"] == "done"
    assert row(stack, prediction_id)["label"] == "cat"
    assert any("classifier.classify_prediction" in w.log_tail(200_000) and "succeeded" in w.log_tail(200_000) for w in stack.workers)

    page = requests.get(f"{stack.url}/predictions/{prediction_id}/", timeout=30)
    assert page.status_code == 200
    assert 'data-status="done"' in page.text
    assert '<h1 id="headline">Cat</h1>' in page.text
    # The tiny model has no pet score: none is stored and the page shows the six pets' shares, no "Not a pet" bar.
    assert result["pet_score"] is None
    assert page.text.count("<li data-label=") == len(CLASSES) and 'data-label="unknown"' not in page.text
    assert ">Among the six pets</h2>" in page.text

    # The original (it may hold the camera's location) is its uploader's browser's and staff's; an API client without
    # a session is neither: it gets the display copy, a JPEG the real server serves.
    assert requests.get(f"{stack.url}/media/{stored['image']}", timeout=30).status_code == 404
    display = requests.get(stack.url + result["display_url"], timeout=30)
    assert display.status_code == 200 and display.headers["Content-Type"] == "image/jpeg"
    assert display.content[:3] == b"\xff\xd8\xff"


def test_real_pet_photo_is_classified(stack):
    photo = pet_photos("dog", 1)[0]
    status, body = upload(stack, photo.name, photo.read_bytes())
    assert status == 202, body
    result = wait_for_prediction(stack.url, body["id"])
    assert result["status"] == "done", result
    assert result["label"] in CLASSES
    assert len(result["probabilities"]) == len(CLASSES)
    assert (stack.media_root / row(stack, body["id"])["image"]).is_file()


@pytest.mark.parametrize(
    "name, data",
    [
        ("notes.jpg", b"this is not an image at all\n" * 20),
        ("half.jpg", "truncated"),
        ("empty.jpg", b""),
    ],
)
def test_corrupt_upload_is_refused_and_nothing_is_stored(stack, name, data):
    if data == "truncated":
        whole = pet_photos("cat", 1)[0].read_bytes()
        data = whole[: len(whole) // 2]
    rows_before = stack.query("SELECT COUNT(*) FROM classifier_prediction")[0][0]
    files_before = stored_files(stack)

    status, body = upload(stack, name, data)

    assert status == 400, body
    assert isinstance(body, dict) and body["error"]
    assert stack.query("SELECT COUNT(*) FROM classifier_prediction")[0][0] == rows_before
    assert stored_files(stack) == files_before
