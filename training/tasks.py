"""Celery tasks of the training app (thin: the run lifecycle is in training.runs)."""
from celery import shared_task


@shared_task(name="training.run_training", acks_late=False)
def run_training(run_id):
    """Train the model of TrainingRun `run_id`; progress and failures are recorded on the run."""
    from training.runs import execute_run

    version = execute_run(run_id)
    return version.name if version is not None else None
