"""Retrain now: build a dataset version from the base folders and everything accepted and reviewed, train, compare
with the live model and promote by the rules, as one job on the embedded worker; one at a time; train --dataset."""
import contextlib
import io
import shutil
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ingestion.models import DatasetVersion
from petsite import jobs
from training.models import ModelVersion, TrainingRun

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

RETRAIN_URL = "/admin/training/trainingrun/retrain/"


@contextlib.contextmanager
def held_long_jobs():
    """Keep the embedded worker's long jobs queued while the test's requests write: SQLite's in-memory test
    database answers "table is locked" to a second writer instead of waiting, as a real database would."""
    gate = threading.Event()
    jobs._local_executor(jobs._kind("training.retrain_now")).submit(gate.wait, 120)
    try:
        yield
    finally:
        gate.set()


def wait_for_long_jobs(timeout=300):
    jobs._local_executor(jobs._kind("training.retrain_now")).submit(lambda: None).result(timeout=timeout)


def test_retrain_now_builds_trains_compares_and_promotes_on_the_embedded_worker(client, staff, loop_settings, live):
    # rules any model passes (the tiny colour model is no fair opponent): the point is the pipeline
    loop_settings.PETSITE_PROMOTION_MAX_ACCURACY_DROP = loop_settings.PETSITE_PROMOTION_MAX_RECALL_DROP = 1.0
    loop_settings.PETSITE_PROMOTION_MAX_PET_UNKNOWN_RISE = 1.0
    assert f'href="{RETRAIN_URL}"'.encode() in client.get("/admin/training/trainingrun/").content
    # the button asks first: what it does, from which folders, against which live model, by which rules; nothing starts
    confirm = client.get(RETRAIN_URL).content.decode()
    assert "Build a dataset version" in confirm and str(loop_settings.PETSITE_DATASET_BASE_FOLDERS[0]) in confirm
    assert "Compare</b> the new model with the live one" in confirm and "accuracy may fall by at most 100.0 points" in confirm
    assert 'id="start-retrain"' in confirm and not TrainingRun.objects.exists()
    with held_long_jobs():
        response = client.post(RETRAIN_URL, follow=True)
        run = TrainingRun.objects.get()
        assert run.retrain and run.created_by == staff and b"training-run-progress" in response.content
        refused = client.post(RETRAIN_URL, follow=True)  # while the first is queued
        assert b"Another training run is in progress" in refused.content and TrainingRun.objects.count() == 1
        asked = client.get(RETRAIN_URL).content.decode()  # the page says so before its button, and offers none
        assert 'id="retrain-refused"' in asked and "Another training run is in progress" in asked and 'id="start-retrain"' not in asked

    wait_for_long_jobs()
    run.refresh_from_db()
    assert run.status == "succeeded" and run.step == "done", run.error
    dataset = run.dataset_version
    assert dataset.status == "built" and dataset.name.startswith("auto-") and dataset.created_by == staff
    assert dataset.photo_count == 18
    version = run.model_version
    assert version.dataset_version == dataset and version.input_size == 64 and version.params["epochs"] == 3
    comparison = version.comparisons.get()
    assert comparison.live_name == "tiny-live" and comparison.dataset_version == dataset and comparison.decision == "promoted"
    assert comparison.results["images"] == sum(counts["test"] for counts in dataset.counts.values())
    version.refresh_from_db()
    assert version.is_active and "now the live model" in run.outcome
    progress = client.get(f"/admin/training/trainingrun/{run.pk}/progress/").json()
    assert progress["fraction"] == 1.0 and progress["step"] == "done" and "now the live model" in progress["text"]
    page = client.get(f"/admin/training/trainingrun/{run.pk}/change/").content.decode()
    assert "Retrain now" in page and f"Comparison #{comparison.pk}" in page


def test_retrain_is_refused_while_a_dataset_build_or_a_run_is_in_progress(loop_settings, live):
    from training.runs import RunRefused, start_retrain

    building = DatasetVersion.objects.create(name="busy", status="running", building=True)
    with pytest.raises(RunRefused, match="busy is being built"):
        start_retrain(dispatch=False)
    DatasetVersion.objects.filter(pk=building.pk).update(status="failed", building=None)
    start_retrain(dispatch=False)
    with pytest.raises(RunRefused, match="Another training run"):
        start_retrain(dispatch=False)


def test_retrain_is_refused_up_front_when_a_base_folder_is_missing(client, staff, loop_settings, live, tmp_path):
    from training.runs import RunRefused, start_retrain

    loop_settings.PETSITE_DATASET_BASE_FOLDERS = [*loop_settings.PETSITE_DATASET_BASE_FOLDERS, str(tmp_path / "nowhere")]
    with pytest.raises(RunRefused, match="nowhere cannot be found"):
        start_retrain(dispatch=False)
    asked = client.get(RETRAIN_URL).content.decode()
    assert 'id="retrain-refused"' in asked and "nowhere cannot be found" in asked and 'id="start-retrain"' not in asked


def test_a_failed_build_fails_the_retrain_readably_and_keeps_the_live_model(loop_settings, live, tmp_path):
    from training.runs import execute_retrain, start_retrain

    folder = tmp_path / "deleted"
    folder.mkdir()
    loop_settings.PETSITE_DATASET_BASE_FOLDERS = [str(folder)]
    run = start_retrain(dispatch=False)
    folder.rmdir()  # gone between the start and the build
    assert execute_retrain(run.pk) is None
    run.refresh_from_db()
    assert run.status == "failed" and not run.in_progress and "does not exist" in run.error, run.error
    live.refresh_from_db()
    assert live.is_active and ModelVersion.objects.count() == 1


def test_train_dataset_trains_on_a_dataset_version_and_records_it(loop_settings, tiny_dataset, tiny_other):
    shutil.copytree(tiny_dataset, loop_settings.PETSITE_DATASETS_ROOT / "tiny")
    dataset = DatasetVersion.objects.create(name="tiny", status="built", building=None)
    out = io.StringIO()
    call_command("train", "--dataset", "tiny", "--arch", "seed", "--epochs", "1", "--input-size", "32", "--other", str(tiny_other),
                 "--name", "seed-on-tiny", stdout=out, stderr=io.StringIO())
    version = ModelVersion.objects.get(name="seed-on-tiny")
    assert version.dataset_version == dataset and version.params["dataset_version"] == "tiny"
    with pytest.raises(CommandError, match="no dataset version 'nope'"):
        call_command("train", "--dataset", "nope", stdout=io.StringIO(), stderr=io.StringIO())
