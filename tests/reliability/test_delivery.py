"""No upload is lost: at-least-once delivery settings, a broker outage at upload time, and the pending sweeper."""
import json
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier import services
from classifier.models import Prediction
from petsite import jobs
from petsite.celery import app as celery_app
from tests.reliability import crafted as c

API = "/api/predictions/"


def photo(color=c.RED):
    return SimpleUploadedFile("p.jpg", c.image_bytes("JPEG", color), content_type="image/jpeg")


def test_celery_is_configured_for_at_least_once_delivery():
    from classifier.tasks import classify_prediction_task, requeue_stale_pending_task

    conf = celery_app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost and conf.worker_prefetch_multiplier == 1
    assert classify_prediction_task.acks_late and classify_prediction_task.reject_on_worker_lost
    assert conf.worker_cancel_long_running_tasks_on_connection_loss
    assert conf.broker_connection_retry_on_startup and conf.broker_connection_max_retries is None
    # A message of a killed worker comes back only after the visibility timeout: it must outlast any task.
    annotations = conf.task_annotations["classifier.classify_prediction"]
    assert conf.broker_transport_options["visibility_timeout"] > annotations["time_limit"] > annotations["soft_time_limit"]
    assert conf.broker_transport_options["visibility_timeout"] >= 3600
    # Publishing never hangs a web request: a bounded, sub-second retry, short socket timeouts.
    policy = conf.task_publish_retry_policy
    assert policy["max_retries"] <= 3 and policy["interval_max"] <= 1
    assert conf.broker_transport_options["socket_connect_timeout"] <= 3
    # The periodic sweeper is scheduled and names a registered task.
    celery_app.loader.import_default_modules()
    schedule = conf.beat_schedule["requeue-stale-pending"]
    assert schedule["task"] == requeue_stale_pending_task.name
    assert 0 < schedule["schedule"] <= 600


@pytest.fixture
def broker_url(settings):
    """Point the site (and the Celery app) at a broker URL for one test."""
    saved = celery_app.conf.broker_url

    def use(url):
        settings.CELERY_BROKER_URL = url
        celery_app.conf.broker_url = url
        celery_app.pool.force_close_all()
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    yield use
    use(saved or "")
    settings.CELERY_BROKER_URL = ""


def dead_broker():
    from harness import free_port

    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


@pytest.mark.django_db
def test_upload_while_the_broker_is_down_is_stored_pending_quickly(client, broker_url, django_capture_on_commit_callbacks, caplog):
    broker_url(dead_broker())
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(API, {"image": photo()})
    elapsed = time.monotonic() - started
    assert response.status_code == 202, response.content
    assert elapsed < 5, f"the upload waited {elapsed:.1f}s on a dead broker"
    prediction = Prediction.objects.get(pk=response.json()["id"])
    assert prediction.status == Prediction.Status.PENDING and prediction.image
    assert "pending sweeper will retry" in caplog.text


@pytest.mark.django_db
@pytest.mark.services
def test_pending_upload_is_requeued_once_the_broker_is_back(client, broker_url, django_capture_on_commit_callbacks):
    import harness

    broker_url(dead_broker())
    with django_capture_on_commit_callbacks(execute=True):
        prediction_id = client.post(API, {"image": photo(c.GREEN)}).json()["id"]
    with harness.RedisDb() as url:
        broker_url(url)
        requeued = services.requeue_stale_pending(older_than_seconds=0)
        assert requeued == [prediction_id]
        queued = harness.redis_client(int(url.rsplit("/", 1)[1])).lrange("celery", 0, -1)
        assert len(queued) == 1
        message = json.loads(queued[0])
        assert message["headers"]["task"] == "classifier.classify_prediction"
        assert json.loads(__import__("base64").b64decode(message["body"]))[0] == [prediction_id]
    # What the worker then runs (a second delivery of the same message is harmless):
    assert services.classify_prediction(prediction_id).label == "dog"
    again = services.classify_prediction(prediction_id)
    assert again.status == "done" and again.attempts == 1


@pytest.mark.django_db
def test_sweeper_leaves_recent_and_finished_predictions_alone(client, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr(services, "dispatch", lambda task, *args: sent.append(args))
    fresh = client.post(API, {"image": photo()}).json()["id"]
    done = client.post(API, {"image": photo()}).json()["id"]
    services.classify_prediction(done)
    assert services.requeue_stale_pending(older_than_seconds=3600) == []
    assert services.requeue_stale_pending(older_than_seconds=0) == [fresh]
    assert sent == [(fresh,)]


@pytest.mark.django_db(transaction=True)
def test_embedded_sweeper_classifies_uploads_left_pending_by_a_crash(client, settings, monkeypatch):
    """No broker: a pending row whose job died with the process is picked up by the sweeper thread."""
    settings.PETSITE_PENDING_SWEEP_SECONDS = 0
    # The crash: the upload is stored but its job never runs.
    monkeypatch.setattr(services, "enqueue_classification", lambda prediction_id: None)
    ids = [client.post(API, {"image": photo(color)}).json()["id"] for color in (c.RED, c.BLUE)]
    assert set(Prediction.objects.values_list("status", flat=True)) == {"pending"}
    monkeypatch.undo()
    stop = jobs.start_embedded_sweeper(interval=0.2)
    try:
        assert stop is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and Prediction.objects.filter(pk__in=ids, status="pending").exists():
            time.sleep(0.1)
    finally:
        jobs.stop_embedded_sweeper()
    labels = dict(Prediction.objects.filter(pk__in=ids).values_list("pk", "label"))
    assert labels == {ids[0]: "cat", ids[1]: "fish"}
    assert set(Prediction.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"done"}


def test_embedded_sweeper_is_not_started_when_a_broker_runs_beat(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    assert jobs.start_embedded_sweeper(interval=1) is None
    settings.CELERY_BROKER_URL = ""
    settings.PETSITE_PENDING_SWEEP_INTERVAL = 0
    assert jobs.start_embedded_sweeper() is None


@pytest.mark.django_db
def test_database_outage_is_a_clean_503_and_stores_nothing(client, settings, monkeypatch):
    from django.db import OperationalError

    from classifier.models import Prediction as Model

    def down(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(Model, "save", down)
    client.raise_request_exception = False
    response = client.post(API, {"image": photo()})
    assert response.status_code == 503
    assert "try again" in response.json()["error"] and response["Retry-After"]
    stored = [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()]
    assert stored == [], "files of an upload that could not be recorded were left behind"
