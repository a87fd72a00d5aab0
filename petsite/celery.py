import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "petsite.settings")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

app = Celery("petsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def close_old_database_connections(**kwargs):
    """Around each task, what Django does around each request: close a connection that broke (a database restart) or
    outlived CONN_MAX_AGE; a healthy one is kept (settings.CELERY_DB_REUSE_MAX stops Celery closing it every task)."""
    from django.db import close_old_connections

    close_old_connections()


@app.on_after_configure.connect
def add_pending_sweeper(sender, **kwargs):
    """The periodic sweepers: beat (`celery -A petsite beat`, or one worker with -B) runs
    classifier.tasks.requeue_stale_pending_task every PETSITE_PENDING_SWEEP_INTERVAL seconds, and
    training.tasks.mark_interrupted_runs_task (runs and dataset builds whose worker died) at most once a minute."""
    from django.conf import settings

    interval = settings.PETSITE_PENDING_SWEEP_INTERVAL
    if interval > 0:
        # A sweep that could not run in time is worthless later; the next one covers it.
        sender.add_periodic_task(
            float(interval), sender.signature("classifier.requeue_stale_pending"), name="requeue-stale-pending", expires=float(interval)
        )
        # Interrupted long jobs go stale in minutes: a sweep a minute is plenty. On the default queue, not `jobs`,
        # whose workers may be busy with the very training run it looks at.
        every = float(max(interval, 60))
        sender.add_periodic_task(
            every, sender.signature("training.mark_interrupted_runs", options={"queue": settings.CELERY_TASK_DEFAULT_QUEUE}),
            name="mark-interrupted-runs", expires=every,
        )


def retrain_schedule(value):
    """The celery crontab of PETSITE_RETRAIN_SCHEDULE ("minute hour day-of-month month day-of-week"), or None when off."""
    from celery.schedules import crontab

    fields = (value or "").split()
    if not fields:
        return None
    if len(fields) != 5:
        raise ValueError(f"PETSITE_RETRAIN_SCHEDULE {value!r}: expected 5 crontab fields (minute hour day month weekday).")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    return crontab(minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year, day_of_week=day_of_week)


@app.on_after_configure.connect
def add_scheduled_retrain(sender, **kwargs):
    """"Retrain now" on a schedule (off by default): beat sends training.scheduled_retrain to the jobs queue."""
    from django.conf import settings

    schedule = retrain_schedule(settings.PETSITE_RETRAIN_SCHEDULE)
    if schedule is not None:
        sender.add_periodic_task(schedule, sender.signature("training.scheduled_retrain"), name="scheduled-retrain")
