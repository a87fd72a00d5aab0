"""Where background work runs.

With CELERY_BROKER_URL set, tasks go to the broker and separate worker processes run them.
Without a broker (the embedded default) they run on a small thread pool inside the web process,
through the same Celery task functions, so `make run` needs nothing but Python.
"""
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)
_local_pools = {}
_local_waiting = {}  # kind -> jobs submitted to the local pool and not started yet
_pools_lock = threading.Lock()
_sweeper = None
_sweeper_lock = threading.Lock()
# What the embedded sweeper calls: the same service the Celery beat task runs.
SWEEP_FUNCTION = "classifier.services.requeue_stale_pending"
# Marks interrupted the training runs and dataset builds whose worker died (staff resume them from the admin).
INTERRUPTED_JOBS_FUNCTION = "training.runs.mark_interrupted_runs"


class JobSuperseded(Exception):
    """The job row this worker was running is no longer its own: it was marked interrupted (its worker looked dead)
    and maybe resumed by another worker. The worker stops without writing to it; the task logs it and ends quietly."""


def broker_configured():
    return bool(settings.CELERY_BROKER_URL)


def _kind(task_name):
    # One thread per kind: work is CPU-bound and SQLite prefers few writers; classifications get
    # their own thread so a long training run or scrape never holds uploads up.
    return "classify" if task_name.startswith("classifier.") else "long"


def _local_executor(kind):
    with _pools_lock:
        if kind not in _local_pools:
            _local_pools[kind] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"petsite-job-{kind}")
        return _local_pools[kind]


def _run_locally(task, args, kind):
    with _pools_lock:
        _local_waiting[kind] -= 1
    close_old_connections()
    try:
        task.apply(args=args, throw=False)
    except Exception:  # the task records its own failure; this only keeps the pool alive
        logger.exception("local job %s%r crashed", task.name, args)
    finally:
        close_old_connections()


def dispatch(task, *args):
    """Run `task(*args)` in the background, now."""
    if broker_configured():
        return task.apply_async(args=args)
    kind = _kind(getattr(task, "name", ""))
    executor = _local_executor(kind)
    with _pools_lock:
        _local_waiting[kind] = _local_waiting.get(kind, 0) + 1
    return executor.submit(_run_locally, task, args, kind)


def queued_classifications():
    """How many classification jobs wait to start (none running counted), or None when the broker cannot say.

    Without a broker: this process's job queue. With one: the messages in the classification queue.
    """
    if not broker_configured():
        with _pools_lock:
            return _local_waiting.get("classify", 0)
    from petsite.celery import app

    try:
        with app.connection_for_read() as connection:
            try:
                declared = connection.default_channel.queue_declare(queue=settings.CELERY_TASK_DEFAULT_QUEUE, passive=True)
            except connection.channel_errors:
                return 0  # the broker keeps no empty queue (Redis), or it was never declared: nothing waits
            return declared.message_count
    except Exception as exc:
        logger.warning("could not read the classification queue length (%s: %s)", type(exc).__name__, exc)
        return None


def dispatch_on_commit(task, *args):
    """Run `task(*args)` once the current transaction has committed, so the task sees the row."""
    transaction.on_commit(lambda: _safe_dispatch(task, args))


def _safe_dispatch(task, args):
    try:
        dispatch(task, *args)
    except Exception as exc:
        # Broker down: the row stays pending and the sweeper re-enqueues it later.
        logger.warning("could not enqueue %s%r (%s: %s); the pending sweeper will retry", task.name, args, type(exc).__name__, exc)


def sweep_pending_once():
    """One pass of the pending sweeper, as beat would run it; returns the re-enqueued ids."""
    close_old_connections()
    try:
        return import_string(SWEEP_FUNCTION)()
    finally:
        close_old_connections()


def sweep_interrupted_jobs_once(marked_builds=None):
    """One pass marking interrupted the long jobs (training runs, dataset builds) whose worker died; returns the runs
    marked, and appends the dataset builds marked to `marked_builds` when given a list."""
    close_old_connections()
    try:
        if marked_builds is None:
            return import_string(INTERRUPTED_JOBS_FUNCTION)()
        return import_string(INTERRUPTED_JOBS_FUNCTION)(marked_builds=marked_builds)
    finally:
        close_old_connections()


def _sweep_forever(stop, interval):
    while not stop.wait(interval):
        try:
            stale = sweep_pending_once()
            if stale:
                logger.info("pending sweeper re-enqueued %d prediction(s)", len(stale))
            builds = []
            runs = sweep_interrupted_jobs_once(marked_builds=builds)
            if runs or builds:
                logger.warning("sweeper marked interrupted %d training run(s) and %d dataset build(s) (their worker stopped); "
                               "staff can resume them from the admin", len(runs), len(builds))
        except Exception:  # database away for a moment: try again next round
            logger.exception("pending sweeper pass failed")


def start_embedded_sweeper(interval=None):
    """Without a broker there is no beat: run the pending sweeper on a daemon thread of this process.

    Called at server start (petsite/wsgi.py). With a broker it does nothing (beat runs the sweeper).
    Returns the stop Event of the running sweeper, or None when none was started.
    """
    global _sweeper
    interval = settings.PETSITE_PENDING_SWEEP_INTERVAL if interval is None else interval
    if broker_configured() or interval <= 0:
        return None
    with _sweeper_lock:
        if _sweeper is None or not _sweeper[0].is_alive():
            stop = threading.Event()
            thread = threading.Thread(target=_sweep_forever, args=(stop, interval), name="petsite-sweeper", daemon=True)
            thread.start()
            _sweeper = (thread, stop)
        return _sweeper[1]


def stop_embedded_sweeper():
    global _sweeper
    with _sweeper_lock:
        if _sweeper is not None:
            thread, stop = _sweeper
            stop.set()
            thread.join(timeout=10)
            _sweeper = None
