import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "petsite.settings")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

app = Celery("petsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def add_pending_sweeper(sender, **kwargs):
    """The periodic pending sweeper: beat (`celery -A petsite beat`, or one worker with -B) runs
    classifier.tasks.requeue_stale_pending_task every PETSITE_PENDING_SWEEP_INTERVAL seconds."""
    from django.conf import settings

    interval = settings.PETSITE_PENDING_SWEEP_INTERVAL
    if interval > 0:
        # A sweep that could not run in time is worthless later; the next one covers it.
        sender.add_periodic_task(
            float(interval), sender.signature("classifier.requeue_stale_pending"), name="requeue-stale-pending", expires=float(interval)
        )
