"""Issue 14: the upload's hot path does each piece of work once, in the right process, with few queries; the result
endpoint is one indexed query and finished predictions revalidate with an ETag."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import ImageFile

from classifier import api, services
from classifier.models import Prediction
from tests.classifier.conftest import jpeg_bytes, upload_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def decodes(monkeypatch):
    """Every pixel decode of an image file (Pillow's ImageFile.load), as the size it decoded to."""
    sizes = []
    load = ImageFile.ImageFile.load

    def spy(self):
        decoding = self.tile  # a file not yet decoded has tiles; load() of a decoded image does nothing
        result = load(self)
        if decoding:
            sizes.append(self.size)
        return result

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return sizes


def test_an_upload_is_decoded_in_full_once_in_the_worker_and_at_an_eighth_in_the_request(decodes):
    prediction = services.submit_upload(upload_file("big.jpg", jpeg_bytes(size=(2000, 1600))))
    # The request only checks that the file decodes: the JPEG at 1/8 scale (every coefficient still read).
    assert decodes == [(250, 200)]
    assert not prediction.thumbnail and not prediction.display_image
    prediction = services.classify_prediction(prediction.pk)
    assert prediction.status == Prediction.Status.DONE
    # One full decode in the worker serves the display copy, the thumbnail and the
    # model input; nothing reads the stored files back (Django's dimension fields were filled from the request's).
    assert decodes == [(250, 200), (2000, 1600)]
    assert prediction.display_image and prediction.thumbnail


def test_the_request_writes_one_row_and_the_worker_three_queries(django_capture_on_commit_callbacks):
    with CaptureQueriesContext(connection) as request_queries:
        prediction = services.submit_upload(upload_file("cat.jpg"))
    assert [q["sql"].split()[0] for q in request_queries] == ["INSERT"]
    with CaptureQueriesContext(connection) as worker_queries:
        done = services.classify_prediction(prediction.pk)
    assert done.status == Prediction.Status.DONE
    # claim (UPDATE), read the claimed row (SELECT), which model is live (SELECT, so a newly activated version serves
    # from the next task on), write the answer with the copies' names (UPDATE)
    assert [q["sql"].split()[0] for q in worker_queries] == ["UPDATE", "SELECT", "SELECT", "UPDATE"]
    assert "training_modelversion" in worker_queries[2]["sql"]


def test_a_second_delivery_of_a_finished_prediction_changes_nothing(make_prediction):
    prediction = make_prediction()
    files = (prediction.display_image.name, prediction.thumbnail.name)
    again = services.classify_prediction(prediction.pk)
    assert again.status == Prediction.Status.DONE and (again.display_image.name, again.thumbnail.name) == files


def test_result_endpoint_is_one_query_without_joins_and_answers_what_the_list_does(client, make_prediction, staff_user):
    prediction = make_prediction()
    services.relabel(Prediction.objects.filter(pk=prediction.pk), "dog", staff_user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("api:prediction", args=[prediction.pk]))
    assert response.status_code == 200
    assert len(queries) == 1 and "JOIN" not in queries[0]["sql"].upper()
    assert response.json() == api.prediction_json(Prediction.objects.get(pk=prediction.pk))


def test_finished_prediction_has_an_etag_and_answers_304_until_reviewed(client, make_prediction, staff_user):
    prediction = make_prediction()
    url = reverse("api:prediction", args=[prediction.pk])
    first = client.get(url)
    etag = first["ETag"]
    assert first.status_code == 200 and etag.startswith('"') and first["Cache-Control"] == "public, no-cache"

    unchanged = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged["ETag"] == etag
    assert client.get(url, HTTP_IF_NONE_MATCH=f'W/{etag}, "other"').status_code == 304
    assert client.get(url, HTTP_IF_NONE_MATCH='"something-else"').status_code == 200

    services.relabel(Prediction.objects.filter(pk=prediction.pk), "dog", staff_user)  # a review changes it
    reviewed = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert reviewed.status_code == 200 and reviewed.json()["true_label"] == "dog" and reviewed["ETag"] != etag
    services.clear_review(Prediction.objects.filter(pk=prediction.pk), staff_user)
    cleared = client.get(url, HTTP_IF_NONE_MATCH=reviewed["ETag"])
    assert cleared.status_code == 200 and cleared.json()["true_label"] is None


def test_pending_prediction_is_not_cached(client, make_prediction):
    prediction = make_prediction(classify=False)
    response = client.get(reverse("api:prediction", args=[prediction.pk]), HTTP_IF_NONE_MATCH="*")
    assert response.status_code == 200 and response.json()["status"] == "pending"
    assert "ETag" not in response and response["Cache-Control"] == "no-store"


def test_pending_page_shows_the_original_to_its_uploader_only_and_makes_no_copy_in_the_request(client, make_prediction):
    from tests.classifier.conftest import own

    prediction = make_prediction(classify=False)
    html = client.get(reverse("classifier:prediction", args=[prediction.pk])).content.decode()
    assert prediction.image.url not in html and "will show here once it is processed" in html  # a stranger's photo
    assert prediction.image.url not in client.get(reverse("classifier:history")).content.decode()
    own(client, prediction)
    html = client.get(reverse("classifier:prediction", args=[prediction.pk])).content.decode()
    assert prediction.image.url in html  # its uploader may fetch the original (classifier.media)
    prediction.refresh_from_db()
    assert not prediction.display_image and not prediction.thumbnail
