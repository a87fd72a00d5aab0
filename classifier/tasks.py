from celery import shared_task

from . import services


@shared_task(name="classifier.classify_prediction", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def classify_prediction_task(prediction_id):
    prediction = services.classify_prediction(prediction_id)
    return prediction.status if prediction else None


@shared_task(name="classifier.requeue_stale_pending", ignore_result=True)
def requeue_stale_pending_task():
    return len(services.requeue_stale_pending())
