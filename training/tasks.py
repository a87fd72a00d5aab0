"""Celery tasks of the training app (thin: the run lifecycle is in training.runs)."""
import logging

from celery import shared_task

from petsite.jobs import JobSuperseded

logger = logging.getLogger(__name__)


def _run_attempt(execute, run_id):
    """Run `execute(run_id)`; an attempt superseded meanwhile (its run marked interrupted, maybe resumed by another
    worker) stops here, logged, its rows untouched. Returns the new version's name or None."""
    try:
        version = execute(run_id)
    except JobSuperseded as exc:
        logger.warning("%s", exc)
        return None
    return version.name if version is not None else None


@shared_task(name="training.run_training", acks_late=False)
def run_training(run_id):
    """Train the model of TrainingRun `run_id`; progress and failures are recorded on the run."""
    from training.runs import execute_run

    return _run_attempt(execute_run, run_id)


@shared_task(name="training.retrain_now", acks_late=False)
def retrain_now(run_id):
    """"Retrain now" run `run_id`: build a dataset version, train, compare, promote by the rules."""
    from training.runs import execute_retrain

    return _run_attempt(execute_retrain, run_id)


@shared_task(name="training.promote_version", acks_late=False)
def promote_version(version_id, user_id=None):
    """The admin's "Promote the selected version": compare with the live model, promote by the rules."""
    from training.promotion import promote_in_background

    result = promote_in_background(version_id, user_id)
    return None if result is None else result.promoted


@shared_task(name="training.mark_interrupted_runs", ignore_result=True)
def mark_interrupted_runs_task():
    """Beat's sweep: mark interrupted the training runs and dataset builds whose worker died (resumable from the admin)."""
    from training.runs import mark_interrupted_runs

    return [run.pk for run in mark_interrupted_runs()]


@shared_task(name="training.scheduled_retrain", ignore_result=True)
def scheduled_retrain():
    """Celery beat's "Retrain now" (settings.PETSITE_RETRAIN_SCHEDULE); refused quietly while other work runs."""
    import logging

    from training.runs import RunRefused, start_retrain

    try:
        run = start_retrain()
    except RunRefused as exc:
        logging.getLogger(__name__).info("scheduled retrain skipped: %s", exc)
        return None
    return run.pk
