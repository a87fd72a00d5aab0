"""Where background work runs.

With CELERY_BROKER_URL set, tasks go to the broker and separate worker processes run them.
Without a broker (the embedded default) they run on a small thread pool inside the web process,
through the same Celery task functions, so `make run` needs nothing but Python.
"""
import logging
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, transaction

logger = logging.getLogger(__name__)
_local_pool = None


def broker_configured():
    return bool(settings.CELERY_BROKER_URL)


def _local_executor():
    global _local_pool
    if _local_pool is None:
        # One thread: inference and training are CPU-bound and SQLite prefers one writer.
        _local_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="petsite-job")
    return _local_pool


def _run_locally(task, args):
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
    return _local_executor().submit(_run_locally, task, args)


def dispatch_on_commit(task, *args):
    """Run `task(*args)` once the current transaction has committed, so the task sees the row."""
    transaction.on_commit(lambda: _safe_dispatch(task, args))


def _safe_dispatch(task, args):
    try:
        dispatch(task, *args)
    except Exception:
        # Broker down: the row stays pending and the sweeper re-enqueues it later.
        logger.exception("could not enqueue %s%r; the pending sweeper will retry", task.name, args)
