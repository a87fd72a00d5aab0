import logging

from celery import shared_task
from celery.signals import celeryd_after_setup, worker_process_init, worker_ready
from django.db import InterfaceError, OperationalError

from . import services

logger = logging.getLogger(__name__)


@shared_task(
    name="classifier.classify_prediction",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    # A database blip (restart, failover) is retried with backoff instead of failing the photo.
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=1,
    retry_backoff_max=30,
    max_retries=10,
)
def classify_prediction_task(prediction_id):
    # The task id names this delivery (its retries keep it), so a retry takes its own claim back.
    prediction = services.classify_prediction(prediction_id, claimant=classify_prediction_task.request.id)
    return prediction.status if prediction else None


@shared_task(name="classifier.requeue_stale_pending", ignore_result=True)
def requeue_stale_pending_task():
    return len(services.requeue_stale_pending())


@celeryd_after_setup.connect
def size_inference_for_the_pool(sender=None, instance=None, **kwargs):
    """Sent in the worker's main process before its pool starts, so prefork children inherit the value.

    Prefork runs `concurrency` inferences at once, one per child; solo and thread pools run one model per
    process, whose calls are serialised (LiteRT) or share one TensorFlow thread pool (Keras).
    """
    from .inference import set_inference_concurrency

    prefork = instance.pool_cls.__module__.endswith("prefork")
    set_inference_concurrency(instance.concurrency if prefork else 1)


@worker_process_init.connect
def load_model_in_pool_process(**kwargs):
    """Each prefork child loads and warms its own copy when it starts, so the first task is not slow."""
    _load_model()


@worker_ready.connect
def load_model_in_main_process(sender=None, **kwargs):
    """The solo and thread pools run tasks in the main process; a prefork parent must stay TensorFlow-free."""
    pool = getattr(sender, "pool", None)
    if pool is not None and type(pool).__module__.endswith("prefork"):
        return
    _load_model()


def _load_model():
    from .inference import NoModelAvailable, get_predictor

    try:
        get_predictor()
    except NoModelAvailable as exc:
        logger.warning("worker started without a model: %s", exc)
    except Exception:
        logger.exception("could not warm the model at worker start; it will load on the first task")
