"""Recovery after a worker dies: claims, their heartbeat, and a sweeper that re-sends lost classifications only."""
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from classifier import services
from classifier.models import Prediction
from petsite import jobs
from tests.reliability import crafted as c

pytestmark = pytest.mark.django_db


def upload(color=c.RED):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return services.submit_upload(SimpleUploadedFile("p.jpg", c.image_bytes("JPEG", color), content_type="image/jpeg"))


def ago(seconds):
    return timezone.now() - timedelta(seconds=seconds)


@pytest.fixture
def sweeper(monkeypatch, settings):
    """requeue_stale_pending with a given queue length; returns (sweep, sent ids)."""
    settings.PETSITE_PENDING_SWEEP_SECONDS = 20
    sent = []
    monkeypatch.setattr(services, "dispatch", lambda task, *args: sent.append(args[0]))
    state = {"queued": 0}
    monkeypatch.setattr(services, "queued_classifications", lambda: state["queued"])

    def sweep(queued):
        state["queued"] = queued
        return services.requeue_stale_pending()

    return sweep, sent


def rows(count, **fields):
    ids = [upload().pk for _ in range(count)]
    Prediction.objects.filter(pk__in=ids).update(**fields)
    return ids


def test_a_healthy_backlog_is_never_sent_again(sweeper):
    sweep, sent = sweeper
    # Workers are busy on the head of the queue (claimed, renewed), the rest waits behind them, some for minutes.
    rows(2, enqueued_at=ago(600), claimed_at=ago(2), claimed_by="live")
    waiting = rows(30, enqueued_at=ago(300))
    assert sweep(queued=30) == []
    assert sweep(queued=30) == []
    assert sent == []
    assert not Prediction.objects.filter(pk__in=waiting, enqueued_at__gt=ago(60)).exists()


def test_a_row_claimed_by_a_dead_worker_is_sent_again_at_once_and_unclaimed(sweeper):
    sweep, sent = sweeper
    [alive] = rows(1, enqueued_at=ago(100), claimed_at=ago(3), claimed_by="alive")  # renewed 3 s ago
    [dead] = rows(1, enqueued_at=ago(100), claimed_at=ago(21), claimed_by="killed")  # not renewed since the kill
    rows(50, enqueued_at=ago(30))  # a backlog does not hold the dead worker's row back
    assert sweep(queued=50) == [dead]
    assert sent == [dead]
    row = Prediction.objects.get(pk=dead)
    assert row.claimed_at is None and row.claimed_by == "" and row.enqueued_at > ago(5)
    assert Prediction.objects.get(pk=alive).claimed_by == "alive"
    # Sent again, it now waits in the queue like any other upload: the next passes leave it alone.
    assert sweep(queued=51) == []


def test_a_never_claimed_row_is_sent_again_when_nothing_is_queued(sweeper):
    """Its message was lost (broker outage) or died unacknowledged in a dead worker's prefetch."""
    sweep, sent = sweeper
    [recent] = rows(1, enqueued_at=ago(5))  # may still be on its way to a worker
    [lost] = rows(1, enqueued_at=ago(25))
    assert sweep(queued=0) == [lost]
    assert sweep(queued=None) == []  # queue length unknown counts as empty; nothing else is stale
    assert sent == [lost]
    assert Prediction.objects.get(pk=recent).enqueued_at < ago(4)


def test_a_row_the_consumers_went_past_is_sent_again_during_a_backlog(sweeper):
    """The queue is first in, first out: once a row sent later is claimed, an earlier unclaimed one is not queued."""
    sweep, sent = sweeper
    [skipped] = rows(1, enqueued_at=ago(60))
    rows(1, enqueued_at=ago(40), claimed_at=ago(1), claimed_by="worker", status="done")
    behind = rows(20, enqueued_at=ago(39))  # sent just after the claimed one: still queued
    assert sweep(queued=20) == [skipped]
    assert sent == [skipped]
    assert not set(sent) & set(behind)


def test_a_row_held_by_a_live_delivery_is_not_classified_twice(monkeypatch, settings):
    settings.PETSITE_PENDING_SWEEP_SECONDS = 20
    prediction = upload(c.GREEN)
    Prediction.objects.filter(pk=prediction.pk).update(claimed_at=ago(5), claimed_by="first", attempts=1)
    monkeypatch.setattr(services, "classify_image", lambda image: pytest.fail("a second delivery classified it"))
    second = services.classify_prediction(prediction.pk, claimant="second")
    assert second.status == "pending" and second.attempts == 1 and second.claimed_by == "first"
    monkeypatch.undo()
    # The same delivery (a retry keeps its task id) takes its claim back; a claim left unrenewed can be taken over.
    assert services.classify_prediction(prediction.pk, claimant="first").label == "dog"
    other = upload(c.BLUE)
    Prediction.objects.filter(pk=other.pk).update(claimed_at=ago(21), claimed_by="killed", attempts=1)
    taken = services.classify_prediction(other.pk, claimant="new")
    assert taken.label == "fish" and taken.attempts == 2


@pytest.mark.django_db(transaction=True)
def test_a_slow_classification_renews_its_claim_so_the_sweeper_leaves_it_alone(monkeypatch, settings):
    settings.PETSITE_PENDING_SWEEP_SECONDS = 2  # renewed every 0.5 s
    # Committed for real here: no in-process job may pick the upload up before this test's own delivery does.
    monkeypatch.setattr(services, "enqueue_classification", lambda prediction_id: None)
    prediction = upload(c.BLUE)
    real = services.classify_image
    swept = []

    def slow(image):
        time.sleep(3)  # longer than the claim lasts unrenewed
        swept.append(services.requeue_stale_pending())
        return real(image)

    monkeypatch.setattr(services, "classify_image", slow)
    monkeypatch.setattr(services, "queued_classifications", lambda: 0)
    monkeypatch.setattr(services, "dispatch", lambda task, *args: pytest.fail(f"re-sent {args} while it was being classified"))
    done = services.classify_prediction(prediction.pk, claimant="slow")
    assert swept == [[]]
    assert done.status == "done" and done.label == "fish" and done.attempts == 1


def test_the_embedded_queue_length_counts_jobs_not_started(settings):
    settings.CELERY_BROKER_URL = ""
    release = threading.Event()
    task = type("Task", (), {"name": "classifier.test", "apply": lambda self, args, throw: release.wait(10)})()
    try:
        futures = [jobs.dispatch(task) for _ in range(3)]
        deadline = time.monotonic() + 5
        while jobs.queued_classifications() != 2 and time.monotonic() < deadline:  # one runs, two wait
            time.sleep(0.01)
        assert jobs.queued_classifications() == 2
    finally:
        release.set()
    for future in futures:
        future.result(timeout=10)
    assert jobs.queued_classifications() == 0


@pytest.mark.services
def test_the_broker_queue_length_is_read_from_redis(settings):
    from petsite.celery import app as celery_app
    import harness

    saved = celery_app.conf.broker_url

    def use(url):  # the queue length is read on a connection of its own: no pool to reset
        settings.CELERY_BROKER_URL = url
        celery_app.conf.broker_url = url

    try:
        with harness.RedisDb() as url:
            use(url)
            assert jobs.queued_classifications() == 0  # Redis keeps no empty queue
            queue = harness.redis_client(int(url.rsplit("/", 1)[1]))
            queue.lpush(settings.CELERY_TASK_DEFAULT_QUEUE, b"m1", b"m2", b"m3")  # three messages waiting
            assert jobs.queued_classifications() == 3
        use(f"redis://127.0.0.1:{harness.free_port()}/0")  # nothing listens there
        assert jobs.queued_classifications() is None
    finally:
        use(saved or "")
