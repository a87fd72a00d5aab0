"""Embedded mode: without a broker, jobs run on an in-process thread through the same task functions."""
import threading

import pytest

from petsite import jobs


class RecordingTask:
    name = "tests.recording"

    def __init__(self):
        self.calls = []
        self.threads = []
        self.done = threading.Event()

    def apply(self, args, throw=False):
        self.calls.append(tuple(args))
        self.threads.append(threading.current_thread().name)
        self.done.set()

    def apply_async(self, args):
        raise AssertionError("no broker is configured: must not go to Celery")


@pytest.mark.django_db  # the job thread tidies its database connection before and after each job
def test_without_a_broker_dispatch_runs_the_task_on_a_background_thread(settings):
    settings.CELERY_BROKER_URL = ""
    task = RecordingTask()
    future = jobs.dispatch(task, 41, "x")
    future.result(timeout=10)
    assert task.calls == [(41, "x")]
    assert task.threads[0].startswith("petsite-job")


def test_with_a_broker_dispatch_goes_to_celery(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/15"
    sent = []

    class BrokerTask(RecordingTask):
        def apply_async(self, args):
            sent.append(tuple(args))
            return "async-result"

    assert jobs.dispatch(BrokerTask(), 7) == "async-result"
    assert sent == [(7,)]


@pytest.mark.django_db
def test_dispatch_on_commit_waits_for_the_commit_and_survives_a_broker_outage(settings, django_capture_on_commit_callbacks):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/15"

    class DownTask(RecordingTask):
        def apply_async(self, args):
            raise ConnectionError("broker down")

    task = DownTask()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        jobs.dispatch_on_commit(task, 3)
    assert len(callbacks) == 1 and task.calls == []
    callbacks[0]()  # the commit happens: the broker is down, which is logged, not raised
    assert task.calls == []
