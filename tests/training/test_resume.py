"""A worker that dies in the middle of a "Retrain now", a training run or a dataset build: the sweeper marks the job
interrupted, saying where it stopped; staff resume it from the admin; it continues from the step that did not finish,
reusing what finished (the built dataset version, the trained model version) and discarding what a half-done step
left (files included). One build and one run at a time still hold: a resume is refused, saying why, while another
runs."""
import shutil
from datetime import timedelta

import pytest
from django.utils import timezone

from ingestion.models import DatasetVersion
from petsite import jobs
from tests.training.test_retrain import held_long_jobs, wait_for_long_jobs
from training.models import ModelVersion, TrainingRun

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

RUNS_URL = "/admin/training/trainingrun/"
VERSIONS_URL = "/admin/ingestion/datasetversion/"


class WorkerDied(BaseException):
    """Raised where a killed worker stops: no `except Exception` of the job code catches it, so the job's rows stay
    as a SIGKILL leaves them (running, its progress where it was)."""


def dying_train_model(monkeypatch, phase):
    """The real train_model, except that the worker dies once it reports `phase` (e.g. "evaluating": after the model
    files were written, before the version was registered)."""
    from training import recipes

    real = recipes.train_model

    def train_model(data_dir, options, activate=False, progress=None, should_stop=None):
        def progress_then_die(name, done, total, metrics):
            progress(name, done, total, metrics)
            if name == phase:
                raise WorkerDied(phase)

        return real(data_dir, options, activate=activate, progress=progress_then_die, should_stop=should_stop)

    monkeypatch.setattr(recipes, "train_model", train_model)


def heartbeat_stopped(run=None, dataset=None, ago=timedelta(hours=3)):
    """What time does to a dead worker's rows: their last progress report grows old."""
    long_ago = timezone.now() - ago
    if run is not None:
        TrainingRun.objects.filter(pk=run.pk).update(updated_at=long_ago)
    if dataset is not None:
        DatasetVersion.objects.filter(pk=dataset.pk).update(heartbeat_at=long_ago)


def rules_any_model_passes(settings):
    # the tiny colour model is no fair opponent: the point is the pipeline
    settings.PETSITE_PROMOTION_MAX_ACCURACY_DROP = settings.PETSITE_PROMOTION_MAX_RECALL_DROP = 1.0
    settings.PETSITE_PROMOTION_MAX_PET_UNKNOWN_RISE = 1.0


def half_built(name, user=None, done=7, total=18):
    """A dataset build as its dead worker left it: running, part of its photos written to build_dataset's temporary
    folder beside the version's, its heartbeat old. Returns (version, the temporary folder)."""
    from ingestion.selectors import version_folder
    from ingestion.services import create_dataset_version

    version = create_dataset_version(name, user=user)
    long_ago = timezone.now() - timedelta(hours=3)
    DatasetVersion.objects.filter(pk=version.pk).update(
        status="running", started_at=long_ago, heartbeat_at=long_ago, progress_done=done, progress_total=total)
    partial = version_folder(name).parent / f".{name}.building-dead1234"
    (partial / "train" / "cat").mkdir(parents=True)
    (partial / "train" / "cat" / "cat0.png").write_bytes(b"half written")
    return DatasetVersion.objects.get(pk=version.pk), partial


def test_a_retrain_whose_worker_died_while_training_resumes_from_training_with_its_dataset_version_reused(
        client, staff, loop_settings, live, monkeypatch):
    from training.registry import models_dir
    from training.runs import execute_retrain, start_retrain

    rules_any_model_passes(loop_settings)
    loop_settings.PETSITE_RETRAIN_OPTIONS = {"input_size": 64, "epochs": 2}
    run = start_retrain(user=staff, dispatch=False)
    dying_train_model(monkeypatch, "evaluating")
    with pytest.raises(WorkerDied):
        execute_retrain(run.pk)  # step 1 builds for real; step 2 trains and writes the model, then the worker dies
    monkeypatch.undo()
    run.refresh_from_db()
    assert run.status == "running" and run.in_progress and run.step == "train" and run.model_version is None
    dataset = run.dataset_version
    assert dataset.status == "built" and dataset.name.startswith("auto-")
    built_at, digest = dataset.finished_at, dataset.digest
    half_trained = models_dir() / run.version_name
    assert (half_trained / "model.keras").is_file()
    (half_trained / "left-by-the-dead-worker.txt").write_text("x")

    assert jobs.sweep_interrupted_jobs_once() == []  # its heartbeat is recent: still running as far as anyone knows
    heartbeat_stopped(run)
    assert [r.pk for r in jobs.sweep_interrupted_jobs_once()] == [run.pk]
    run.refresh_from_db()
    assert run.status == "interrupted" and not run.in_progress
    assert run.error.startswith("Interrupted: the worker stopped at step 2 of 3, training"), run.error
    page = client.get(f"{RUNS_URL}{run.pk}/change/").content.decode()
    assert "step 2 of 3, training" in page and 'name="_resume_run"' in page

    with held_long_jobs():  # the request writes (its admin log entry); the job waits until it is done
        response = client.post(f"{RUNS_URL}{run.pk}/change/", {"_resume_run": "Resume"}, follow=True)
        assert f"Retrain #{run.pk} resumed" in response.content.decode()
        run.refresh_from_db()
        assert run.status == "queued" and run.in_progress and run.step == "train" and not run.error
    wait_for_long_jobs()

    run.refresh_from_db()
    assert run.status == "succeeded" and run.step == "done", run.error
    assert list(DatasetVersion.objects.all()) == [dataset]  # the built version was reused: no second build
    dataset.refresh_from_db()
    assert dataset.finished_at == built_at and dataset.digest == digest
    version = run.model_version
    assert version.name == run.version_name and version.dataset_version == dataset and version.params["epochs"] == 2
    assert ModelVersion.objects.count() == 2  # the live one and this one: the half-trained attempt left no row
    assert (half_trained / "model.keras").is_file() and not (half_trained / "left-by-the-dead-worker.txt").exists()
    version.refresh_from_db()
    assert version.is_active and "now the live model" in run.outcome


def test_a_retrain_whose_worker_died_while_building_builds_the_half_built_version_again(staff, loop_settings, live):
    from training.runs import execute_retrain, mark_interrupted_runs, resume_run, start_retrain

    rules_any_model_passes(loop_settings)
    loop_settings.PETSITE_RETRAIN_OPTIONS = {"input_size": 64, "epochs": 1}
    run = start_retrain(user=staff, dispatch=False)
    # Claimed by a worker that recorded its new version, built 7 of 18 photos and died.
    dataset, partial = half_built("auto-half", user=staff)
    TrainingRun.objects.filter(pk=run.pk).update(status="running", dataset_version=dataset, done=7, total=18,
                                                 phase="building dataset version auto-half")
    heartbeat_stopped(run)

    assert [r.pk for r in mark_interrupted_runs()] == [run.pk]
    run.refresh_from_db()
    dataset.refresh_from_db()
    assert run.status == "interrupted" and run.error.startswith("Interrupted: the worker stopped at step 1 of 3, building"), run.error
    assert dataset.status == "interrupted" and dataset.building is None and "at 7 of 18 photos" in dataset.error

    run = resume_run(run, user=staff, dispatch=False)
    assert run.status == "queued" and run.step == "build" and run.dataset_version == dataset
    dataset.refresh_from_db()
    assert dataset.status == "queued" and dataset.building and not partial.exists()  # the half-built files are gone
    execute_retrain(run.pk)

    run.refresh_from_db()
    assert run.status == "succeeded" and run.step == "done", run.error
    assert list(DatasetVersion.objects.all()) == [dataset]
    dataset.refresh_from_db()
    assert dataset.status == "built" and dataset.photo_count == 18 and run.model_version.dataset_version == dataset


def test_a_training_run_whose_worker_died_while_comparing_resumes_with_its_trained_version_reused(
        client, staff, loop_settings, live, tiny_dataset, monkeypatch):
    from training import comparison, runs

    rules_any_model_passes(loop_settings)
    shutil.copytree(tiny_dataset, loop_settings.PETSITE_DATASETS_ROOT / "tiny")
    tiny = DatasetVersion.objects.create(name="tiny", status="built", building=None)
    run = runs.start_run(None, "seed", epochs=1, activate_on_success=True, user=staff, dispatch=False, dataset_version=tiny,
                         options={"input_size": 32})

    def dies(*args, **kwargs):
        raise WorkerDied("comparing")

    monkeypatch.setattr(comparison, "compare_versions", dies)
    with pytest.raises(WorkerDied):
        runs.execute_run(run.pk)
    monkeypatch.undo()
    run.refresh_from_db()
    trained = run.model_version
    assert run.status == "running" and run.step == "compare" and trained is not None
    heartbeat_stopped(run)
    page = client.get(RUNS_URL).content.decode()  # the list sweeps: staff see it interrupted
    run.refresh_from_db()
    assert run.status == "interrupted" and run.error.startswith("Interrupted: the worker stopped while comparing"), run.error
    assert "Interrupted: the worker stopped while comparing" in page

    with held_long_jobs():
        response = client.post(RUNS_URL, {"action": "resume_runs", "_selected_action": [run.pk]}, follow=True)
        assert f"Training run #{run.pk} resumed" in response.content.decode()
    wait_for_long_jobs()

    run.refresh_from_db()
    assert run.status == "succeeded" and run.model_version == trained, run.error
    assert ModelVersion.objects.count() == 2  # not trained again
    trained.refresh_from_db()
    assert trained.is_active and trained.comparisons.get().decision == "promoted"


def test_a_dataset_build_whose_worker_died_is_marked_and_resumed_from_the_admin(client, staff, loop_settings):
    version, partial = half_built("v-half", user=staff)
    page = client.get(VERSIONS_URL).content.decode()  # the list sweeps
    version.refresh_from_db()
    assert version.status == "interrupted" and version.building is None
    assert "Interrupted: the build&#x27;s worker stopped at 7 of 18 photos" in page
    assert 'name="_resume_build"' in client.get(f"{VERSIONS_URL}{version.pk}/change/").content.decode()

    with held_long_jobs():
        response = client.post(f"{VERSIONS_URL}{version.pk}/change/", {"_resume_build": "Resume build"}, follow=True)
        assert "Building dataset version v-half again" in response.content.decode()
        assert not partial.exists()
    wait_for_long_jobs()

    version.refresh_from_db()
    assert version.status == "built" and version.photo_count == 18 and not version.error
    assert DatasetVersion.objects.count() == 1


def test_resuming_is_refused_while_another_build_or_run_is_in_progress(client, staff, loop_settings, live):
    from training.runs import RunRefused, mark_interrupted_runs, resume_run, start_retrain

    run = start_retrain(user=staff, dispatch=False)
    dataset, partial = half_built("auto-half", user=staff)
    TrainingRun.objects.filter(pk=run.pk).update(status="running", dataset_version=dataset)
    heartbeat_stopped(run)
    mark_interrupted_runs()

    busy = DatasetVersion.objects.create(name="busy", status="running", building=True, heartbeat_at=timezone.now())
    with pytest.raises(RunRefused, match="busy is being built"):
        resume_run(run)
    run.refresh_from_db()
    dataset.refresh_from_db()
    assert run.status == "interrupted" and dataset.status == "interrupted" and partial.exists()  # nothing changed
    response = client.post(f"{VERSIONS_URL}{dataset.pk}/change/", {"_resume_build": "Resume build"}, follow=True)
    assert "Build of auto-half not resumed: Dataset version busy is being built" in response.content.decode()

    DatasetVersion.objects.filter(pk=busy.pk).update(status="built", building=None)
    other = TrainingRun.objects.create(status="running", in_progress=True)
    response = client.post(f"{RUNS_URL}{run.pk}/change/", {"_resume_run": "Resume"}, follow=True)
    assert f"Retrain #{run.pk} not resumed: Another training run is in progress" in response.content.decode()
    run.refresh_from_db()
    assert run.status == "interrupted" and not run.in_progress

    TrainingRun.objects.filter(pk=other.pk).update(status="succeeded", in_progress=False)
    with pytest.raises(RunRefused, match="only an interrupted run can be resumed"):
        resume_run(other)
    assert resume_run(run, dispatch=False).status == "queued"
    with pytest.raises(RunRefused, match="only an interrupted run"):
        resume_run(run)  # twice: the second finds it queued


# A worker marked interrupted that is still alive (a long phase without progress) stops at its next write -----------

def tiny_version(loop_settings, tiny_dataset):
    shutil.copytree(tiny_dataset, loop_settings.PETSITE_DATASETS_ROOT / "tiny")
    return DatasetVersion.objects.create(name="tiny", status="built", building=None)


def tiny_run(loop_settings, tiny_dataset, staff):
    from training.runs import start_run

    return start_run(None, "seed", epochs=1, activate_on_success=True, user=staff, dispatch=False,
                     dataset_version=tiny_version(loop_settings, tiny_dataset), options={"input_size": 32})


def test_a_training_worker_marked_interrupted_and_resumed_elsewhere_stops_without_touching_the_run(
        staff, loop_settings, tiny_dataset, monkeypatch):
    from training import recipes, runs, tasks

    run = tiny_run(loop_settings, tiny_dataset, staff)
    seen = {}

    def quiet_then_writes(data_dir, options, activate=False, progress=None, should_stop=None):
        # A long phase without progress: meanwhile the run is marked interrupted, resumed and taken by another worker.
        heartbeat_stopped(TrainingRun.objects.get(pk=run.pk))
        assert [r.pk for r in runs.mark_interrupted_runs()] == [run.pk]
        runs.resume_run(run, dispatch=False)
        seen["resumed"] = runs._claim(run.pk)  # the new attempt's worker
        for report in (lambda: progress("epoch", 1, 1, {"loss": 1.0}), should_stop):
            try:
                report()
            except Exception as exc:
                seen.setdefault("stopped", exc)
        raise RuntimeError("the old worker fails late")  # would end the run (and free the one-run slot)

    monkeypatch.setattr(recipes, "train_model", quiet_then_writes)
    assert tasks.run_training(run.pk) is None  # the task ends quietly
    assert type(seen.get("stopped")).__name__ == "RunSuperseded"
    run.refresh_from_db()
    # The resumed attempt's run, as its worker left it: not failed, not freed, no progress from the old worker.
    assert run.status == "running" and run.in_progress and not run.error and run.epoch == 0, (run.status, run.error)
    assert run.attempt == seen["resumed"].attempt


def test_a_build_worker_marked_interrupted_and_resumed_stops_without_touching_the_build(staff, loop_settings, monkeypatch):
    from ingestion import services
    from ingestion.models import PhotoSplit
    from ingestion.selectors import version_folder
    from ingestion.tasks import build_dataset_version_task

    version = services.create_dataset_version("v-quiet", user=staff)
    resumed = []

    def quiet_then_reports(done, total):
        if not resumed:  # a long quiet phase: meanwhile the build is marked interrupted and resumed
            DatasetVersion.objects.filter(pk=version.pk).update(heartbeat_at=timezone.now() - timedelta(hours=3))
            assert [v.pk for v in services.mark_interrupted_builds()] == [version.pk]
            resumed.append(services.requeue_interrupted_build(version))

    real_init = services._BuildProgress.__init__

    def with_echo(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        self.echo = quiet_then_reports

    monkeypatch.setattr(services._BuildProgress, "__init__", with_echo)
    assert build_dataset_version_task(version.pk) is None  # the task ends quietly
    version.refresh_from_db()
    # The resumed build waits for its worker: the old one neither built it, failed it, nor reported progress on it.
    assert version.status == "queued" and version.building and version.progress_done == 0, (version.status, version.error)
    assert not PhotoSplit.objects.exists() and not version_folder("v-quiet").exists()


def test_a_worker_stopping_while_a_retrain_builds_leaves_both_resumable_not_failed(staff, loop_settings, live, monkeypatch):
    from celery.exceptions import WorkerShutdown

    from ingestion import services
    from training.runs import execute_retrain, mark_interrupted_runs, resume_run, start_retrain

    run = start_retrain(user=staff, dispatch=False)

    def shut_down(*args, **kwargs):
        raise WorkerShutdown()  # the worker is told to stop (a SystemExit) in the middle of the build

    monkeypatch.setattr(services, "build_dataset", shut_down)
    with pytest.raises(WorkerShutdown):
        execute_retrain(run.pk)
    run.refresh_from_db()
    dataset = run.dataset_version
    assert run.status == "running" and run.in_progress and run.step == "build", (run.status, run.error)
    assert dataset.status == "running" and dataset.building, (dataset.status, dataset.error)

    heartbeat_stopped(run, dataset)
    assert [r.pk for r in mark_interrupted_runs()] == [run.pk]
    dataset.refresh_from_db()
    assert dataset.status == "interrupted"
    assert resume_run(run, dispatch=False).step == "build"


def test_a_build_reporting_progress_while_the_sweeper_marks_it_is_left_alone(staff, loop_settings, monkeypatch):
    from ingestion import services

    version, _partial = half_built("v-alive", user=staff)
    real_end_build = services._end_build

    def heartbeat_first(*args, **kwargs):  # the worker reports between the sweeper's read and its write
        DatasetVersion.objects.filter(pk=version.pk).update(heartbeat_at=timezone.now())
        return real_end_build(*args, **kwargs)

    monkeypatch.setattr(services, "_end_build", heartbeat_first)
    assert services.mark_interrupted_builds() == []
    version.refresh_from_db()
    assert version.status == "running" and version.building


def test_resume_adopts_the_version_an_attempt_registered_before_its_worker_died(
        staff, loop_settings, live, tiny_dataset, monkeypatch):
    from training import recipes, registry, runs

    rules_any_model_passes(loop_settings)
    run = tiny_run(loop_settings, tiny_dataset, staff)
    real_register = registry.register_version

    def register_then_die(*args, **kwargs):
        real_register(*args, **kwargs)
        raise WorkerDied("registered")  # before the run recorded it

    monkeypatch.setattr(registry, "register_version", register_then_die)
    with pytest.raises(WorkerDied):
        runs.execute_run(run.pk)
    monkeypatch.undo()
    run.refresh_from_db()
    registered = ModelVersion.objects.get(name=run.version_name)
    assert run.model_version is None and registered.resolved_path.is_file()

    heartbeat_stopped(run)
    runs.mark_interrupted_runs()
    run = runs.resume_run(run, dispatch=False)
    assert run.step == "compare"  # what was left to do

    def trains_again(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(recipes, "train_model", trains_again)
    runs.execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded" and run.model_version_id == registered.pk, run.error
    registered.refresh_from_db()
    assert registered.resolved_path.is_file() and registered.dataset_version.name == "tiny"
    assert ModelVersion.objects.count() == 2 and registered.is_active
    assert registered.comparisons.get().decision == "promoted"


def test_what_a_dead_attempt_left_is_discarded_only_when_nothing_refers_to_it(loop_settings, live):
    from training.models import ModelComparison
    from training.registry import VersionNameTaken, models_dir, reclaim_unfinished_version

    def left(name):
        (models_dir() / name).mkdir(parents=True)
        return ModelVersion.objects.create(name=name, architecture="seed", file_path=f"models/{name}/model.keras")

    compared = left("compared-once")
    ModelComparison.objects.create(candidate=compared, live=live, live_name=live.name, rules_passed=True)
    with pytest.raises(VersionNameTaken):
        reclaim_unfinished_version("compared-once")
    assert ModelVersion.objects.filter(pk=compared.pk).exists()
    activated = left("live-once")
    ModelVersion.objects.filter(pk=activated.pk).update(activated_at=timezone.now())
    with pytest.raises(VersionNameTaken):
        reclaim_unfinished_version("live-once")
    assert ModelVersion.objects.filter(pk=activated.pk).exists()

    left("never-used")
    assert reclaim_unfinished_version("never-used") is None
    assert not ModelVersion.objects.filter(name="never-used").exists() and not (models_dir() / "never-used").exists()


def test_a_build_resumed_after_a_later_version_was_built_keeps_its_previous_version(loop_settings):
    from ingestion.selectors import latest_built_version

    now = timezone.now()
    v1 = DatasetVersion.objects.create(name="v1", status="built", building=None, finished_at=now - timedelta(hours=3))
    v2 = DatasetVersion.objects.create(name="v2", status="queued")  # interrupted, then resumed
    v3 = DatasetVersion.objects.create(name="v3", status="built", building=None, finished_at=now - timedelta(hours=1))
    assert latest_built_version(before=v2) == v1
    assert latest_built_version() == v3


def test_a_rolled_back_resume_keeps_the_half_built_files(staff, loop_settings):
    from django.db import transaction

    from ingestion import services

    version, partial = half_built("v-half", user=staff)
    services.mark_interrupted_builds()
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            services.requeue_interrupted_build(version)
            assert partial.exists()  # removed only once committed
            raise RuntimeError("something later in the transaction failed")
    version.refresh_from_db()
    assert version.status == "interrupted" and partial.exists()
    services.requeue_interrupted_build(version)
    assert not partial.exists()


def test_a_queued_retrain_is_not_marked_interrupted_by_the_build_threshold(staff, loop_settings, live):
    from training.runs import mark_interrupted_runs, start_retrain

    run = start_retrain(user=staff, dispatch=False)  # queued behind a long job, at step "build" from the start
    waited = timedelta(seconds=loop_settings.PETSITE_DATASET_STALE_SECONDS + 60)
    assert waited < timedelta(seconds=loop_settings.PETSITE_TRAINING_STALE_SECONDS)
    heartbeat_stopped(run, ago=waited)
    assert mark_interrupted_runs() == []
    run.refresh_from_db()
    assert run.status == "queued" and run.in_progress
    TrainingRun.objects.filter(pk=run.pk).update(status="running")  # building, silent as long: its worker died
    heartbeat_stopped(run, ago=waited)
    assert [r.pk for r in mark_interrupted_runs()] == [run.pk]


def test_a_run_that_died_after_promoting_records_the_decision_when_resumed(staff, loop_settings, live, tiny_dataset, monkeypatch):
    from training import promotion, runs

    rules_any_model_passes(loop_settings)
    run = tiny_run(loop_settings, tiny_dataset, staff)

    def dies(*args, **kwargs):
        raise WorkerDied("activated, the decision not recorded")

    monkeypatch.setattr(promotion, "_decide", dies)
    with pytest.raises(WorkerDied):
        runs.execute_run(run.pk)
    monkeypatch.undo()
    run.refresh_from_db()
    version = run.model_version
    version.refresh_from_db()
    assert version.is_active and version.comparisons.get().decision == ""

    heartbeat_stopped(run)
    runs.mark_interrupted_runs()
    runs.resume_run(run, dispatch=False)
    runs.execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded" and "now the live model" in run.outcome, run.error
    comparison = version.comparisons.get()
    assert comparison.decision == "promoted" and comparison.decided_at is not None


def test_a_training_run_whose_worker_died_while_training_resumes_and_trains_again(
        staff, loop_settings, live, tiny_dataset, monkeypatch):
    from training.registry import models_dir
    from training.runs import execute_run, mark_interrupted_runs, resume_run

    rules_any_model_passes(loop_settings)
    run = tiny_run(loop_settings, tiny_dataset, staff)
    dying_train_model(monkeypatch, "evaluating")  # the model files are written, no version registered
    with pytest.raises(WorkerDied):
        execute_run(run.pk)
    monkeypatch.undo()
    run.refresh_from_db()
    assert run.status == "running" and run.step == "train" and run.model_version is None
    half_trained = models_dir() / run.version_name
    (half_trained / "left-by-the-dead-worker.txt").write_text("x")
    heartbeat_stopped(run)
    assert [r.pk for r in mark_interrupted_runs()] == [run.pk]
    run.refresh_from_db()
    assert run.error.startswith("Interrupted: the worker stopped while training"), run.error

    assert resume_run(run, dispatch=False).step == "train"
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded" and run.model_version.name == run.version_name, run.error
    assert ModelVersion.objects.count() == 2 and not (half_trained / "left-by-the-dead-worker.txt").exists()


def test_resuming_two_selected_runs_resumes_the_first_and_says_the_second_waits(client, staff, loop_settings, tiny_dataset):
    first, second = (TrainingRun.objects.create(status="interrupted", in_progress=False, architecture="seed",
                                                data_dir=str(tiny_dataset), error="Interrupted") for _ in range(2))
    with held_long_jobs():
        response = client.post(RUNS_URL, {"action": "resume_runs", "_selected_action": [first.pk, second.pk]}, follow=True)
        TrainingRun.objects.filter(pk=first.pk).update(status="cancelled", in_progress=False)  # not trained here
    wait_for_long_jobs()
    page = response.content.decode()
    assert f'<li class="success">Training run #{first.pk} resumed' in page
    assert f'<li class="warning">Training run #{second.pk} not resumed: another job is running' in page
    assert 'class="error"' not in page


def test_a_training_worker_superseded_while_comparing_neither_promotes_nor_decides(
        staff, loop_settings, live, tiny_dataset, monkeypatch):
    from training import comparison as comparing
    from training import runs, tasks

    rules_any_model_passes(loop_settings)
    run = tiny_run(loop_settings, tiny_dataset, staff)
    real_compare = comparing.compare_versions
    seen = {}

    def long_quiet_compare(version, *args, **kwargs):
        result = real_compare(version, *args, **kwargs)
        # Comparing writes no progress: meanwhile the run is marked interrupted, resumed and taken by another worker.
        heartbeat_stopped(TrainingRun.objects.get(pk=run.pk))
        assert [r.pk for r in runs.mark_interrupted_runs()] == [run.pk]
        runs.resume_run(run, dispatch=False)
        seen["resumed"] = runs._claim(run.pk)
        return result

    monkeypatch.setattr(comparing, "compare_versions", long_quiet_compare)
    assert tasks.run_training(run.pk) is None  # the old worker stops quietly
    run.refresh_from_db()
    version = run.model_version
    version.refresh_from_db()
    comparison = version.comparisons.get()
    assert comparison.rules_passed  # it would have promoted
    assert not version.is_active and live.__class__.objects.get(pk=live.pk).is_active
    assert comparison.decision == "" and comparison.decided_at is None
    assert run.status == "running" and run.in_progress and not run.outcome and run.attempt == seen["resumed"].attempt


def test_a_retrain_superseded_while_building_ends_its_build_interrupted_so_it_blocks_nothing(
        staff, loop_settings, live, monkeypatch):
    from ingestion.selectors import active_dataset_build
    from training import runs, tasks

    run = runs.start_retrain(user=staff, dispatch=False)
    real_call = runs._BuildWatch.__call__
    seen = []

    def run_superseded_first(self, done, total):
        dataset = DatasetVersion.objects.get(pk=self.version.pk)
        seen.append((dataset.progress_done, dataset.progress_total, done, total))  # the build's heartbeat came first
        # Only the run is taken away (marked interrupted): its build is still this worker's and alive.
        TrainingRun.objects.filter(pk=run.pk).update(status="interrupted", in_progress=False, error="Interrupted: test")
        return real_call(self, done, total)

    monkeypatch.setattr(runs._BuildWatch, "__call__", run_superseded_first)
    assert tasks.retrain_now(run.pk) is None  # the worker stops quietly
    run.refresh_from_db()
    dataset = run.dataset_version
    dataset.refresh_from_db()
    assert seen and seen[0][:2] == seen[0][2:], seen
    assert dataset.status == "interrupted" and not dataset.building, (dataset.status, dataset.error)
    assert f"training run #{run.pk}" in dataset.error and "Resume builds it again" in dataset.error
    assert active_dataset_build() is None  # a new build may start at once, not once the sweeper finds this one stale
    assert run.status == "interrupted" and run.error == "Interrupted: test"  # the run untouched by the old worker
    assert runs.resume_run(run, dispatch=False).step == "build"
    dataset.refresh_from_db()
    assert dataset.status == "queued"


def test_a_resume_posted_after_someone_else_resumed_the_run_says_so_not_403(client, staff, loop_settings, tiny_dataset):
    from training.runs import resume_run

    run = tiny_run(loop_settings, tiny_dataset, staff)
    TrainingRun.objects.filter(pk=run.pk).update(status="interrupted", in_progress=False, error="Interrupted: test")
    url = f"{RUNS_URL}{run.pk}/change/"
    assert 'name="_resume_run"' in client.get(url).content.decode()  # the page offers Resume
    resume_run(run, dispatch=False)  # meanwhile, someone else resumes it
    response = client.post(url, {"_resume_run": "Resume"})
    assert response.status_code == 302 and response["Location"] == url
    page = client.get(url).content.decode()
    assert f"Training run #{run.pk} not resumed: it is not interrupted any more (queued)" in page
    run.refresh_from_db()
    assert run.status == "queued" and run.attempt == 1  # resumed once, not twice
    assert client.post(url, {}).status_code == 403  # any other post to a run's read-only page is still refused
