"""The TrainingRun lifecycle (the admin starts runs, the Celery task executes them): one run in progress at a time.

check_run_request()  the refusals a start would meet (unknown architecture, missing folder, another run in
                     progress), for a form to show before anything is created.
start_run()          create a queued run and hand it to a worker.
request_cancel()     ask a queued or running run to stop; the active model stays as it is.
execute_run()        train (training.recipes.train_model) with progress written to the run; never raises for a
                     failed run, which is recorded on it.
expire_stale_runs()  fail runs whose worker stopped reporting, so they no longer block new ones.
"""
import logging
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from training.architectures import ARCHITECTURES
from training.models import TrainingRun
from training.progress import TrainingCancelled
from training.registry import activate as activate_version

logger = logging.getLogger(__name__)

ANOTHER_RUN = "Another training run is in progress; wait for it to finish or cancel it."


class RunRefused(Exception):
    """A training run cannot start (another one is in progress, or bad input); message for the operator."""


def expire_stale_runs():
    """Fail the runs in progress that reported nothing for PETSITE_TRAINING_STALE_SECONDS (their worker died)."""
    limit = timezone.now() - timedelta(seconds=settings.PETSITE_TRAINING_STALE_SECONDS)
    for run in TrainingRun.objects.filter(in_progress=True, updated_at__lt=limit):
        _end_run(run, TrainingRun.Status.FAILED, "No progress reported for too long; the worker probably died.")


def check_run_request(data_dir, architecture):
    """RunRefused with the reason a run on these inputs cannot start now; None when it can."""
    if architecture not in ARCHITECTURES:
        raise RunRefused(f"Unknown architecture {architecture!r}.")
    if not Path(data_dir).is_dir():
        raise RunRefused(f"Dataset folder {data_dir} does not exist.")
    expire_stale_runs()
    if TrainingRun.objects.filter(in_progress=True).exists():
        raise RunRefused(ANOTHER_RUN)


def start_run(data_dir, architecture="default", epochs=None, activate_on_success=False, user=None, dispatch=True):
    """Create a queued TrainingRun and hand it to a worker; RunRefused while another run is in progress."""
    check_run_request(data_dir, architecture)
    try:
        with transaction.atomic():
            if TrainingRun.objects.filter(in_progress=True).exists():
                raise RunRefused(ANOTHER_RUN)
            run = TrainingRun.objects.create(
                data_dir=str(data_dir), architecture=architecture, epochs=epochs, activate_on_success=activate_on_success,
                created_by=user if user is not None and user.is_authenticated else None,
            )
    except IntegrityError as exc:  # a concurrent start won the race; the constraint keeps it to one
        raise RunRefused(ANOTHER_RUN) from exc
    if dispatch:
        from petsite.jobs import dispatch_on_commit
        from training.tasks import run_training

        dispatch_on_commit(run_training, run.pk)
    return run


def request_cancel(run):
    if run.in_progress:
        TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)
        return True
    return False


def _end_run(run, status, error=""):
    """Record how a run ended and free the one-run-in-progress slot."""
    TrainingRun.objects.filter(pk=run.pk).update(status=status, in_progress=False, error=error[:5000], finished_at=timezone.now())


def execute_run(run_id):
    """Run a TrainingRun to the end (called by the Celery task). Never raises for training failures."""
    from training.recipes import TrainingOptions, train_model

    run = TrainingRun.objects.filter(pk=run_id).first()
    if run is None or not run.in_progress or run.status != TrainingRun.Status.QUEUED:
        return None
    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.RUNNING, started_at=timezone.now())
    state = {"last": 0.0}

    def progress(phase, done, total, metrics):
        now = time.monotonic()
        fields = {"phase": phase[:80], "done": done, "total": total}
        if phase == "epoch":
            fields.update(epoch=done, total_epochs=total, current_metrics=metrics or {})
        elif metrics:
            fields["current_metrics"] = {k: float(v) for k, v in metrics.items()}
        if phase == "epoch" or done == total or now - state["last"] > 1.0:
            state["last"] = now
            TrainingRun.objects.filter(pk=run.pk).update(updated_at=timezone.now(), **fields)

    def should_stop():
        return TrainingRun.objects.filter(pk=run.pk, cancel_requested=True).exists()

    options = TrainingOptions(architecture=run.architecture, epochs=run.epochs, other_dirs=settings.PETSITE_TRAINING_OTHER_DIRS)
    try:
        version = train_model(run.data_dir, options, activate=False, progress=progress, should_stop=should_stop)
    except TrainingCancelled:
        _end_run(run, TrainingRun.Status.CANCELLED, "Cancelled by an operator; the active model is unchanged.")
        return None
    except Exception as exc:  # any failure is recorded for the operator; the active model stays as it was
        logger.exception("training run %s failed", run.pk)
        _end_run(run, TrainingRun.Status.FAILED, f"{type(exc).__name__}: {exc}")
        return None
    TrainingRun.objects.filter(pk=run.pk).update(model_version=version, phase="done", current_metrics={"accuracy": version.accuracy})
    if run.activate_on_success:
        try:
            activate_version(version)
        except Exception as exc:  # the version is registered; only the switch failed, so say so and free the slot
            logger.exception("training run %s: activating %s failed", run.pk, version.name)
            _end_run(run, TrainingRun.Status.FAILED, f"Trained {version.name}, but activating it failed: {exc}")
            return version
    _end_run(run, TrainingRun.Status.SUCCEEDED)
    return version
