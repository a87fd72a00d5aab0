"""The TrainingRun lifecycle (the admin starts runs, the Celery task executes them): one run in progress at a time.

check_run_request()  the refusals a start would meet (unknown architecture, missing dataset version or folder, another
                     run in progress), for a form to show before anything is created.
start_run()          create a queued run (on a dataset version, or a folder) and hand it to a worker.
start_retrain()      "Retrain now": a run that first builds a dataset version from everything accepted and reviewed
                     (ingestion's build service), then trains the default recipe, compares and promotes by the rules.
request_cancel()     ask a queued or running run to stop; the active model stays as it is.
execute_run()        train (training.recipes.train_model) with progress written to the run, then compare the new
                     version with the live one (training.comparison) and, when asked, promote it by the rules
                     (training.promotion); never raises for a failed run, which is recorded on it.
execute_retrain()    the three steps of a retrain run (build, train, compare and promote).
mark_interrupted_runs()  mark interrupted the runs (and dataset builds) whose worker stopped reporting, saying where,
                     so they no longer block new ones (the sweeper, the admin pages and every start call it).
resume_run()         queue an interrupted run again from the step that did not finish: a built dataset version and a
                     trained model version are reused, what a half-done step left is discarded and redone.
"""
import logging
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from petsite.jobs import JobSuperseded

from training.architectures import ARCHITECTURES
from training.models import ModelVersion, TrainingRun
from training.progress import TrainingCancelled

logger = logging.getLogger(__name__)

ANOTHER_RUN = "Another training run is in progress; wait for it to finish or cancel it."


class RunRefused(Exception):
    """A training run cannot start (another one is in progress, or bad input); message for the operator."""


class RunSuperseded(JobSuperseded):
    """The run is no longer this worker's attempt (marked interrupted, maybe resumed by another worker): the worker
    stops without writing to it (the task logs it)."""

    def __init__(self, run):
        super().__init__(f"Training run #{run.pk}: attempt {run.attempt} was marked interrupted or resumed elsewhere; "
                         "this worker stops without touching it.")


_STEP_NUMBERS = {TrainingRun.Step.BUILD: 1, TrainingRun.Step.TRAIN: 2, TrainingRun.Step.COMPARE: 3, TrainingRun.Step.DONE: 3}
_STEP_WORDS = {TrainingRun.Step.BUILD: "building the dataset version", TrainingRun.Step.TRAIN: "training",
               TrainingRun.Step.COMPARE: "comparing with the live model", TrainingRun.Step.DONE: "comparing with the live model"}


def _interruption_reason(run):
    """Where an interrupted run stopped, in words, e.g. "Interrupted: the worker stopped at step 2 of 3, training"."""
    if run.status == TrainingRun.Status.QUEUED:
        return "Interrupted: no worker started the run (its worker stopped or the job was lost). Resume starts it."
    where = _STEP_WORDS[run.step]
    if run.step == TrainingRun.Step.TRAIN and run.total_epochs:
        where += f" (epoch {run.epoch} of {run.total_epochs})"
    if run.retrain:
        where = f"at step {_STEP_NUMBERS[run.step]} of 3, {where}"
    else:
        where = f"while {where}"
    return f"Interrupted: the worker stopped {where} (it died or was restarted). Resume continues from that step."


def mark_interrupted_runs(marked_builds=None):
    """Mark interrupted the runs in progress whose worker stopped reporting, so they stop blocking new runs and staff
    can resume them: no progress for PETSITE_TRAINING_STALE_SECONDS, or, building a dataset version (progress every
    half second), for PETSITE_DATASET_STALE_SECONDS. Stale dataset builds are marked first (appended to
    `marked_builds` when given a list). Returns the runs marked."""
    from django.db.models import Q

    from ingestion.services import mark_interrupted_builds

    builds = mark_interrupted_builds()
    if marked_builds is not None:
        marked_builds.extend(builds)
    now = timezone.now()
    # A run building its dataset version reports every half second; a queued one (a retrain waits at step "build"
    # from the start) reports nothing until a worker takes it, so only the training threshold applies to it.
    stale = Q(updated_at__lt=now - timedelta(seconds=settings.PETSITE_TRAINING_STALE_SECONDS)) | Q(
        status=TrainingRun.Status.RUNNING, step=TrainingRun.Step.BUILD,
        updated_at__lt=now - timedelta(seconds=settings.PETSITE_DATASET_STALE_SECONDS))
    marked = []
    for run in TrainingRun.objects.filter(stale, in_progress=True):  # read first: most passes find none
        # Conditional: a run that reported progress since it was read is left alone.
        if TrainingRun.objects.filter(stale, pk=run.pk, in_progress=True).update(
            status=TrainingRun.Status.INTERRUPTED, in_progress=False, error=_interruption_reason(run), finished_at=now,
        ):
            marked.append(run)
    return marked


def dataset_folder(dataset_version):
    """The folder of a built dataset version; RunRefused saying why when it cannot be trained on."""
    from ingestion.selectors import UnknownDatasetVersion, dataset_version_path

    try:
        return dataset_version_path(dataset_version.name)
    except UnknownDatasetVersion as exc:
        raise RunRefused(str(exc)) from exc


def check_run_request(data_dir, architecture, dataset_version=None):
    """RunRefused with the reason a run on these inputs cannot start now; None when it can."""
    if architecture not in ARCHITECTURES:
        raise RunRefused(f"Unknown architecture {architecture!r}.")
    if dataset_version is not None:
        dataset_folder(dataset_version)
    elif not data_dir:
        raise RunRefused("Choose a dataset version to train on.")
    elif not Path(data_dir).is_dir():
        raise RunRefused(f"Dataset folder {data_dir} does not exist.")
    mark_interrupted_runs()
    if TrainingRun.objects.filter(in_progress=True).exists():
        raise RunRefused(ANOTHER_RUN)


def _user(user):
    return user if user is not None and user.is_authenticated else None


def _create_run(dispatch, task_name, **fields):
    try:
        with transaction.atomic():
            if TrainingRun.objects.filter(in_progress=True).exists():
                raise RunRefused(ANOTHER_RUN)
            run = TrainingRun.objects.create(**fields)
    except IntegrityError as exc:  # a concurrent start won the race; the constraint keeps it to one
        raise RunRefused(ANOTHER_RUN) from exc
    if dispatch:
        from petsite.jobs import dispatch_on_commit
        from training import tasks

        dispatch_on_commit(getattr(tasks, task_name), run.pk)
    return run


def start_run(data_dir=None, architecture="default", epochs=None, activate_on_success=False, user=None, dispatch=True,
              dataset_version=None, options=None):
    """Create a queued TrainingRun on a dataset version (or a dataset folder) and hand it to a worker.

    `activate_on_success`: promote the new version when it passes the rules. RunRefused while another run is in
    progress or the dataset cannot be used.
    """
    check_run_request(data_dir, architecture, dataset_version)
    if dataset_version is not None:
        data_dir = dataset_folder(dataset_version)
    return _create_run(
        dispatch, "run_training", data_dir=str(data_dir), dataset_version=dataset_version, architecture=architecture,
        epochs=epochs, activate_on_success=activate_on_success, options=dict(options or {}), created_by=_user(user),
    )


def retrain_refusal():
    """Why "Retrain now" cannot start now (a training run or a dataset build in progress, a base folder missing), or ""
    when it can."""
    from ingestion.selectors import active_dataset_build

    mark_interrupted_runs()
    if TrainingRun.objects.filter(in_progress=True).exists():
        return ANOTHER_RUN
    building = active_dataset_build()
    if building is not None:
        return f"Dataset version {building.name} is being built; wait for it to finish or cancel it first."
    missing = [str(folder) for folder in settings.PETSITE_DATASET_BASE_FOLDERS if not Path(folder).is_dir()]
    if missing:
        return (f"The base photo folder{'s' if len(missing) > 1 else ''} {', '.join(missing)} cannot be found; "
                "set PETSITE_DATASET_BASE_FOLDERS to folders that exist.")
    return ""


def start_retrain(user=None, architecture="default", epochs=None, options=None, dispatch=True):
    """"Retrain now": a run that builds a dataset version from the base folders and everything accepted and reviewed,
    trains, compares and promotes by the rules. RunRefused while a training run or a dataset build is in progress."""
    refusal = retrain_refusal()
    if refusal:
        raise RunRefused(refusal)
    options = {**settings.PETSITE_RETRAIN_OPTIONS, **(options or {})}
    epochs = epochs or options.pop("epochs", None)
    return _create_run(
        dispatch, "retrain_now", retrain=True, step=TrainingRun.Step.BUILD, architecture=architecture, epochs=epochs,
        activate_on_success=True, options=options, created_by=_user(user), phase="waiting to build a dataset version",
    )


def _resume_step(run):
    """The step an interrupted run continues from: what finished is kept (a built dataset version, a trained model
    version), the step that did not finish is done again. RunRefused when what it needs is gone."""
    from ingestion.models import DatasetVersion

    if run.model_version_id is not None or _finished_version(run) is not None:
        return TrainingRun.Step.COMPARE  # a version registered but not recorded: the worker adopts it
    if run.retrain:
        dataset = run.dataset_version
        if dataset is not None and dataset.status == DatasetVersion.Status.BUILT:
            dataset_folder(dataset)
            return TrainingRun.Step.TRAIN
        return TrainingRun.Step.BUILD
    if run.dataset_version is not None:
        dataset_folder(run.dataset_version)
    elif not Path(run.data_dir).is_dir():
        raise RunRefused(f"Dataset folder {run.data_dir} does not exist any more.")
    return TrainingRun.Step.TRAIN


def _finished_version(run):
    """The version an interrupted attempt registered (with its model file) under the run's name, not yet recorded on
    the run (its worker died in between), or None."""
    if run.model_version_id is not None or not run.version_name:
        return None
    version = ModelVersion.objects.filter(name=run.version_name).first()
    return version if version is not None and version.resolved_path.is_file() else None


def resume_run(run, user=None, dispatch=True):
    """Queue an interrupted run (a "Retrain now" or a training run) again, continuing from the step that did not
    finish, on the same Celery task as its start. One at a time still: RunRefused, saying why, while another run
    (or, for a retrain's build step, another dataset build) is in progress, or when the run is not interrupted.
    Returns the run, queued."""
    from ingestion import services as ingestion
    from ingestion.models import DatasetVersion
    from ingestion.selectors import active_dataset_build

    mark_interrupted_runs()
    run = TrainingRun.objects.select_related("dataset_version", "model_version").get(pk=run.pk)
    if run.status != TrainingRun.Status.INTERRUPTED:
        raise RunRefused(f"Run #{run.pk} is not interrupted ({run.get_status_display().lower()}); only an interrupted run can be resumed.")
    step = _resume_step(run)
    kind = run.kind
    try:
        with transaction.atomic():
            if TrainingRun.objects.filter(in_progress=True).exists():
                raise RunRefused(ANOTHER_RUN)
            if step == TrainingRun.Step.BUILD:
                dataset = run.dataset_version
                if dataset is not None and dataset.status == DatasetVersion.Status.INTERRUPTED:
                    # The half-built version is built again under its name: its files are discarded, its row kept.
                    ingestion.requeue_interrupted_build(dataset)
                else:  # none yet, or it ended otherwise: the task builds a new one
                    building = active_dataset_build()
                    if building is not None:
                        raise RunRefused(f"Dataset version {building.name} is being built; wait for it to finish or cancel it first.")
                    TrainingRun.objects.filter(pk=run.pk).update(dataset_version=None)
            resumed = TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.INTERRUPTED).update(
                status=TrainingRun.Status.QUEUED, in_progress=True, step=step, cancel_requested=False, finished_at=None,
                attempt=F("attempt") + 1,  # whatever the stopped worker still tries to write is refused
                error="", phase=f"resumed by {user or 'the system'}: waiting for a worker to continue with {_STEP_WORDS[step]}"[:80],
                updated_at=timezone.now(),
            )
            if not resumed:
                raise RunRefused(f"{kind} #{run.pk} was resumed or changed meanwhile.")
            if dispatch:
                from petsite.jobs import dispatch_on_commit
                from training import tasks

                dispatch_on_commit(tasks.retrain_now if run.retrain else tasks.run_training, run.pk)
    except ingestion.BuildRefused as exc:
        raise RunRefused(str(exc)) from exc
    except IntegrityError as exc:  # a concurrent start took the one run slot
        raise RunRefused(ANOTHER_RUN) from exc
    logger.info("%s #%s resumed at step %s by %s", kind, run.pk, step, user)
    return TrainingRun.objects.get(pk=run.pk)


def request_cancel(run):
    if run.in_progress:
        TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)
        return True
    return False


def _own(run):
    """The run's row while it is still this worker's attempt (running it); empty once marked interrupted or resumed."""
    return TrainingRun.objects.filter(pk=run.pk, attempt=run.attempt, status=TrainingRun.Status.RUNNING, in_progress=True)


def _end_run(run, status, error=""):
    """Record how a run ended and free the one-run-in-progress slot; RunSuperseded (nothing written) when the run is no
    longer this worker's attempt."""
    if not _own(run).update(status=status, in_progress=False, error=error[:5000], finished_at=timezone.now()):
        raise RunSuperseded(run)


def _claim(run_id):
    """Take a queued run for this worker (once, however often the task is delivered); None when not queued. The run
    starts at its `step`: the first for a new run, the unfinished one for a resumed run."""
    from django.db.models.functions import Coalesce

    now = timezone.now()
    if not TrainingRun.objects.filter(pk=run_id, in_progress=True, status=TrainingRun.Status.QUEUED).update(
        status=TrainingRun.Status.RUNNING, started_at=Coalesce("started_at", now), updated_at=now, attempt=F("attempt") + 1,
    ):
        return None
    return TrainingRun.objects.select_related("dataset_version", "model_version", "created_by").get(pk=run_id)


def _update(run, **fields):
    """Write progress to the run; RunSuperseded (nothing written) once it is no longer this worker's attempt."""
    if not _own(run).update(updated_at=timezone.now(), **fields):
        raise RunSuperseded(run)


def _cancel_requested(run):
    """Whether an operator asked the run to stop (should_stop); RunSuperseded once it is no longer this worker's."""
    cancel = _own(run).values_list("cancel_requested", flat=True).first()
    if cancel is None:
        raise RunSuperseded(run)
    return cancel


# Options a run may set besides architecture and epochs (tests use tiny input sizes).
RUN_OPTIONS = ("input_size", "seed", "batch_size", "augment_rounds", "finetune_epochs", "validation_fraction", "abstract_pictures")


def execute_run(run_id):
    """Run a TrainingRun to the end (called by the Celery task), from its step. Never raises for training failures;
    RunSuperseded when the run was marked interrupted (or resumed elsewhere) while this worker ran it."""
    run = _claim(run_id)
    if run is None:
        return None
    if run.step == TrainingRun.Step.COMPARE and run.model_version is not None:  # resumed after training finished
        return _compare_step(run, run.model_version)
    return _train_compare_promote(run, run.data_dir)


def _reserve_version_name(run):
    """(name, finished): the name the run's model version gets, recorded on the run before training, and None; or,
    for a resumed run whose interrupted attempt finished training and registered its version without recording it,
    (its name, that version) to adopt. A resumed run otherwise keeps its name and first discards what its attempt
    left under it (registry.reclaim_unfinished_version); a name taken by a version that is kept gives way to a new one."""
    from training import registry

    if run.version_name:
        try:
            return run.version_name, registry.reclaim_unfinished_version(run.version_name)
        except registry.VersionNameTaken as exc:
            logger.warning("training run %s: %s Training under a new name.", run.pk, exc)
    name = base = registry.new_version_name(run.architecture)
    n = 1
    # A folder no version owns (a crashed `train`) is not this run's to remove: never train over it.
    while ((registry.models_dir() / name).exists() or ModelVersion.objects.filter(name=name).exists()
           or TrainingRun.objects.filter(version_name=name).exclude(pk=run.pk).exists()):
        n += 1
        name = f"{base}-{n}"
    return name, None


def _adopt(run, version):
    """Record on the run the version its interrupted attempt registered, and compare it (what was left to do)."""
    from training.selectors import dataset_version_for_folder

    dataset = run.dataset_version or dataset_version_for_folder(run.data_dir)
    if version.dataset_version_id is None and dataset is not None:  # the attempt died before recording it
        ModelVersion.objects.filter(pk=version.pk).update(dataset_version=dataset, params={**version.params, "dataset_version": dataset.name})
        version.refresh_from_db()
    logger.info("training run %s: adopting %s, which its interrupted attempt trained and registered", run.pk, version.name)
    _update(run, model_version=version, step=TrainingRun.Step.COMPARE, phase="comparing with the live model",
            current_metrics={"accuracy": version.accuracy})
    return _compare_step(run, version)


def _train_compare_promote(run, data_dir):
    """Train on `data_dir`, then compare and (when asked) promote; records everything on the run."""
    from training.recipes import TrainingOptions, train_model

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
            _update(run, **fields)

    extra = {key: value for key, value in (run.options or {}).items() if key in RUN_OPTIONS}
    try:
        name, finished = _reserve_version_name(run)
    except JobSuperseded:
        raise
    except Exception as exc:
        logger.exception("training run %s: could not discard what its interrupted attempt left", run.pk)
        _end_run(run, TrainingRun.Status.FAILED, f"What the interrupted attempt left could not be removed: {type(exc).__name__}: {exc}")
        return None
    if finished is not None:
        return _adopt(run, finished)
    options = TrainingOptions(architecture=run.architecture, epochs=run.epochs, other_dirs=settings.PETSITE_TRAINING_OTHER_DIRS,
                              name=name, **extra)
    _update(run, step=TrainingRun.Step.TRAIN, phase="starting", done=0, total=0, epoch=0, total_epochs=0, data_dir=str(data_dir),
            version_name=name)
    try:
        version = train_model(data_dir, options, activate=False, progress=progress, should_stop=lambda: _cancel_requested(run))
    except JobSuperseded:
        raise
    except TrainingCancelled:
        _end_run(run, TrainingRun.Status.CANCELLED, "Cancelled by an operator; the active model is unchanged.")
        return None
    except Exception as exc:  # any failure is recorded for the operator; the active model stays as it was
        logger.exception("training run %s failed", run.pk)
        _end_run(run, TrainingRun.Status.FAILED, f"{type(exc).__name__}: {exc}")
        return None
    _update(run, model_version=version, step=TrainingRun.Step.COMPARE, phase="comparing with the live model",
            current_metrics={"accuracy": version.accuracy})
    return _compare_step(run, version)


def _compare_step(run, version):
    """Compare the trained version with the live model, promote it when the run asks and the rules pass; the run ends."""
    _update(run, step=TrainingRun.Step.COMPARE, phase="comparing with the live model")
    try:
        outcome = _compare_and_promote(run, version)
    except JobSuperseded:
        raise
    except Exception as exc:  # the version is registered; only the comparison or the switch failed, so say so
        logger.exception("training run %s: comparing or promoting %s failed", run.pk, version.name)
        _end_run(run, TrainingRun.Status.FAILED, f"Trained {version.name}, but comparing or activating it failed: {type(exc).__name__}: {exc}")
        return version
    _update(run, step=TrainingRun.Step.DONE, phase="done", outcome=outcome[:5000])
    _end_run(run, TrainingRun.Status.SUCCEEDED)
    return version


def _compare_and_promote(run, version):
    """Compare the new version with the live model; promote it by the rules when the run asks. Returns the outcome."""
    from training.comparison import ComparisonError, compare_versions
    from training.promotion import promote

    version.refresh_from_db()
    if version.is_active:  # promoted by an attempt interrupted just after
        _check_own(run)
        _record_interrupted_promotion(version)
        return f"{version.name} is now the live model."
    try:
        comparison = compare_versions(version)
    except ComparisonError as exc:
        return f"Not compared with the live model: {exc} {version.name} was not promoted."
    verdict = "passes the promotion rules" if comparison.rules_passed else "fails the promotion rules: " + "; ".join(comparison.rule_failures)
    if not run.activate_on_success:
        return f"{version.name} {verdict}. Not promoted (promote if better was off): promote it from its model version page."
    # Comparing is long and writes no progress: the run may have been marked interrupted (and resumed elsewhere)
    # meanwhile. Only the attempt that still owns the run decides and promotes.
    _check_own(run)
    return promote(version, comparison=comparison).message


def _check_own(run):
    """RunSuperseded unless the run is still this worker's attempt (before an irreversible step: promoting)."""
    if not _own(run).exists():
        raise RunSuperseded(run)


def _record_interrupted_promotion(version):
    """An attempt activated `version` (its comparison passed the rules) and died before recording the decision: record
    it, so the comparison does not stay undecided."""
    from training.models import ModelComparison

    comparison = version.comparisons.order_by("-created_at", "-id").first()
    if comparison is not None and comparison.decision == ModelComparison.Decision.PENDING and comparison.rules_passed:
        ModelComparison.objects.filter(pk=comparison.pk, decision=ModelComparison.Decision.PENDING).update(
            decision=ModelComparison.Decision.PROMOTED, decided_at=version.activated_at or timezone.now())


class _BuildWatch:
    """Progress of the retrain's dataset build, written to the run; a cancelled run cancels the build."""

    def __init__(self, run, version):
        self.run, self.version, self.last = run, version, 0.0

    def __call__(self, done, total):
        now = time.monotonic()
        if now - self.last < 0.5 and done < total:
            return
        self.last = now
        _update(self.run, done=done, total=total, phase=f"building dataset version {self.version.name}"[:80])
        if _cancel_requested(self.run):
            from ingestion.models import DatasetVersion

            DatasetVersion.objects.filter(pk=self.version.pk).update(cancel_requested=True)


def _new_dataset_name():
    """auto-<timestamp>, with -2, -3 ... when taken."""
    from ingestion.models import DatasetVersion
    from ingestion.selectors import version_folder

    base = f"auto-{timezone.now():%Y%m%d-%H%M%S}"
    name, n = base, 1
    while DatasetVersion.objects.filter(name=name).exists() or version_folder(name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def execute_retrain(run_id):
    """Run a retrain from its step (build a dataset version, train on it, compare and promote by the rules). Never
    raises for failures (RunSuperseded, as execute_run). A resumed retrain reuses what finished: its built dataset version, its trained model version."""
    run = _claim(run_id)
    if run is None:
        return None
    if run.step == TrainingRun.Step.COMPARE and run.model_version is not None:
        return _compare_step(run, run.model_version)
    dataset = run.dataset_version
    if run.step == TrainingRun.Step.BUILD or dataset is None:
        dataset = _build_step(run)
        if dataset is None:
            return None
    try:
        folder = dataset_folder(dataset)
    except RunRefused as exc:
        _end_run(run, TrainingRun.Status.FAILED, str(exc))
        return None
    return _train_compare_promote(run, folder)


def _build_step(run):
    """Step 1 of a retrain: build its dataset version (a new one, or the interrupted one resume_run queued again);
    a version already built is kept. Returns the built version, or None when the run ended (recorded on it)."""
    from ingestion import services as ingestion
    from ingestion.models import DatasetVersion

    dataset = run.dataset_version
    if dataset is not None and dataset.is_built:
        return dataset
    if dataset is None or dataset.status != DatasetVersion.Status.QUEUED:
        try:
            with transaction.atomic():  # the run records its version at once: a resumed run finds it
                dataset = ingestion.create_dataset_version(_new_dataset_name(), user=run.created_by)
                _update(run, dataset_version=dataset)
        except ingestion.BuildRefused as exc:
            _end_run(run, TrainingRun.Status.FAILED, f"The dataset version could not be built: {exc}")
            return None
    name = dataset.name
    _update(run, step=TrainingRun.Step.BUILD, phase=f"building dataset version {name}"[:80])
    # The attempt run_dataset_build's claim makes of the queued build (one more than the queued row's).
    build_attempt = DatasetVersion.objects.filter(pk=dataset.pk).values_list("attempt", flat=True).first()
    try:
        dataset = ingestion.run_dataset_build(dataset.pk, progress=_BuildWatch(run, dataset))
    except RunSuperseded:
        # The run stopped being this worker's while its build went on (the echo of the build's progress found it
        # out): the build, still this worker's, ends interrupted, so it blocks no new build; resuming the run builds
        # it again.
        if build_attempt is not None:
            ingestion.interrupt_own_build(
                dataset.pk, build_attempt + 1,
                f"Interrupted: training run #{run.pk}, which was building it, was marked interrupted or resumed "
                "elsewhere, so its worker stopped the build. Resume builds it again.")
        raise
    except JobSuperseded:
        raise
    except Exception as exc:
        # Not BaseException: a worker stopping (SystemExit, KeyboardInterrupt, Celery's WorkerShutdown) leaves the run
        # as it is, for the sweeper to mark interrupted (resumable), not failed.
        _end_run(run, TrainingRun.Status.FAILED, f"The dataset build crashed: {type(exc).__name__}: {exc}")
        return None
    if dataset.status == DatasetVersion.Status.CANCELLED or _cancel_requested(run):
        _end_run(run, TrainingRun.Status.CANCELLED, "Cancelled by an operator while building the dataset; the active model is unchanged.")
        return None
    if dataset.status != DatasetVersion.Status.BUILT:
        _end_run(run, TrainingRun.Status.FAILED, f"Building dataset version {name} failed: {dataset.error}")
        return None
    return dataset
