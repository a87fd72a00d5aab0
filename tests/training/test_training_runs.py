"""TrainingRun from the admin: on a dataset version, staff only, one at a time, live progress, failures and cancels leave
the active model alone."""
import shutil

import pytest

from training.models import ModelVersion, TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)

ADD_URL = "/admin/training/trainingrun/add/"


@pytest.fixture
def dispatched(monkeypatch):
    """Record what the admin hands to the job queue instead of training on a thread."""
    calls = []
    monkeypatch.setattr("petsite.jobs.dispatch_on_commit", lambda task, *args: calls.append((task.name, args)))
    return calls


@pytest.fixture
def active_version(tiny_model_path):
    from training.registry import activate

    version = ModelVersion.objects.create(name="tiny-active", architecture="tiny", classes=["bird", "cat", "dog", "dragon", "fish", "hamster"],
                                          input_size=32, file_path=str(tiny_model_path))
    return activate(version)


def make_version(name, source=None, **fields):
    """A built DatasetVersion row whose folder holds a copy of `source` (an empty train/ folder without one)."""
    from ingestion.models import DatasetVersion
    from ingestion.selectors import version_folder

    folder = version_folder(name)
    if source is not None:
        shutil.copytree(source, folder)
    else:
        (folder / "train").mkdir(parents=True)
    return DatasetVersion.objects.create(name=name, status="built", building=None, **fields)


@pytest.fixture
def tiny_version(settings, tmp_path, tiny_dataset):
    settings.PETSITE_DATASETS_ROOT = tmp_path / "datasets"
    return make_version("tiny", tiny_dataset)


def _start(client, version, arch="default", epochs="2", **extra):
    return client.post(ADD_URL, {"architecture": arch, "dataset_version": version.pk, "epochs": epochs, **extra}, follow=True)


def test_only_staff_can_open_or_start_runs(client, django_user_model, tiny_version, dispatched):
    assert client.get(ADD_URL).status_code == 302  # anonymous: to the login page
    user = django_user_model.objects.create_user("visitor", password="pw-12345678")
    client.force_login(user)
    response = client.post(ADD_URL, {"architecture": "seed", "dataset_version": tiny_version.pk})
    assert response.status_code in (302, 403) and not TrainingRun.objects.exists()
    assert not dispatched


def test_staff_start_a_run_a_second_is_refused_and_the_run_trains(client, staff, tiny_version, tiny_other, dispatched, settings, active_version):
    settings.PETSITE_TRAINING_OTHER_DIRS = [str(tiny_other)]
    page = client.get(ADD_URL)
    assert page.status_code == 200 and b"dataset_version" in page.content and b"data_dir" not in page.content
    response = _start(client, tiny_version, options="ignored")
    run = TrainingRun.objects.get()
    assert response.status_code == 200 and run.status == "queued" and run.in_progress and run.created_by == staff
    assert run.dataset_version == tiny_version and run.data_dir.endswith("/tiny")
    assert dispatched == [("training.run_training", (run.pk,))]
    assert b"training-run-progress" in response.content

    second = _start(client, tiny_version, "seed")
    assert b"Another training run is in progress" in second.content
    assert TrainingRun.objects.count() == 1 and len(dispatched) == 1

    # the worker side: the Celery task function, run here synchronously
    from training.tasks import run_training

    name = run_training.apply(args=(run.pk,)).get()
    run.refresh_from_db()
    assert run.status == "succeeded" and not run.in_progress, run.error
    assert run.model_version.name == name and run.total_epochs == 2 and run.epoch >= 1
    # measured on the version's test split (a 2-epoch tiny model may answer "not a pet" to all of them: accuracy 0),
    # every one of the 6 test photos counted once in the confusion matrix, "not a pet" answers included
    metrics = run.model_version.metrics
    assert metrics["test_images"] == 6 and metrics["unknown"]["pets_images"] == 6 and len(metrics["confusion_matrix"]) == 6
    assert sum(map(sum, metrics["confusion_matrix"])) == 6, metrics["confusion_matrix"]
    assert metrics["accuracy"] == pytest.approx(sum(row[i] for i, row in enumerate(metrics["confusion_matrix"])) / 6)
    assert run.model_version.dataset_version == tiny_version and run.model_version.params["dataset_version"] == "tiny"
    # compared with the live model on the version's test split, but not promoted ("promote if better" was off)
    comparison = run.model_version.comparisons.get()
    assert comparison.live_name == "tiny-active" and comparison.results["images"] == 6 and comparison.decision == ""
    assert "Not promoted" in run.outcome
    active_version.refresh_from_db()
    assert active_version.is_active

    progress = client.get(f"/admin/training/trainingrun/{run.pk}/progress/").json()
    assert progress["status"] == "succeeded" and progress["fraction"] == 1.0 and progress["model_version"] == name
    assert client.get(f"/admin/training/trainingrun/{run.pk}/change/").status_code == 200
    assert b"<progress" in client.get("/admin/training/trainingrun/").content

    # finished: a new run may start
    _start(client, tiny_version, "seed")
    assert TrainingRun.objects.filter(in_progress=True).count() == 1


def test_a_failed_run_leaves_the_active_model_untouched(client, staff, settings, tmp_path, dispatched, active_version):
    settings.PETSITE_DATASETS_ROOT = tmp_path / "datasets"
    _start(client, make_version("broken"))  # exists, but holds no photos
    run = TrainingRun.objects.get()
    from training.runs import execute_run

    assert execute_run(run.pk) is None
    run.refresh_from_db()
    assert run.status == "failed" and not run.in_progress and "holds no images" in run.error
    assert list(ModelVersion.objects.filter(is_active=True)) == [active_version]
    assert client.get(f"/admin/training/trainingrun/{run.pk}/progress/").json()["text"].startswith("Failed:")


def test_a_cancelled_run_registers_nothing(client, staff, tiny_version, dispatched, active_version, settings):
    settings.PETSITE_TRAINING_OTHER_DIRS = []
    _start(client, tiny_version, "default", "2")
    run = TrainingRun.objects.get()
    client.post("/admin/training/trainingrun/", {"action": "cancel_runs", "_selected_action": [run.pk]})
    from training.runs import execute_run

    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "cancelled" and not run.in_progress
    assert ModelVersion.objects.count() == 1 and ModelVersion.objects.get().is_active


def test_the_database_allows_only_one_run_in_progress(tiny_dataset):
    from django.db import IntegrityError, transaction

    TrainingRun.objects.create(data_dir=str(tiny_dataset))
    with pytest.raises(IntegrityError), transaction.atomic():
        TrainingRun.objects.create(data_dir=str(tiny_dataset))


def test_a_run_whose_activation_fails_is_failed_and_frees_the_slot(staff, tiny_dataset, active_version, settings, monkeypatch):
    from training import runs

    settings.PETSITE_TRAINING_OTHER_DIRS = []
    # rules any model passes, so the run gets as far as activating
    settings.PETSITE_PROMOTION_MAX_ACCURACY_DROP = settings.PETSITE_PROMOTION_MAX_RECALL_DROP = 1.0
    settings.PETSITE_PROMOTION_MAX_PET_UNKNOWN_RISE = 1.0
    run = runs.start_run(tiny_dataset, "seed", epochs=1, activate_on_success=True, user=staff, dispatch=False)  # a plain folder

    def refuse(version):
        raise RuntimeError("model file vanished")

    monkeypatch.setattr("training.promotion.activate", refuse)
    version = runs.execute_run(run.pk)

    run.refresh_from_db()
    assert version is not None and run.model_version == version
    assert run.status == "failed" and not run.in_progress and "activating it failed" in run.error
    assert list(ModelVersion.objects.filter(is_active=True)) == [active_version]


def test_the_form_offers_built_versions_newest_first_and_says_to_build_one_when_there_is_none(client, staff, settings, tmp_path, dispatched):
    settings.PETSITE_DATASETS_ROOT = tmp_path / "datasets"
    response = client.post(ADD_URL, {"architecture": "seed", "epochs": "3"})
    page = response.content.decode()
    assert response.status_code == 200 and "No dataset version is built yet" in page and "build one first" in page
    assert 'value="3"' in page and not TrainingRun.objects.exists()  # the input is kept

    from django.utils import timezone

    older = make_version("older", finished_at=timezone.now() - timezone.timedelta(days=1))
    newer = make_version("newer", finished_at=timezone.now())
    from ingestion.models import DatasetVersion

    DatasetVersion.objects.create(name="building", status="running", building=True)
    select = client.get(ADD_URL).content.decode().split('name="dataset_version"')[1].split("</select>")[0]
    assert select.index(">newer (") < select.index(">older (") and "building" not in select
    assert older.pk and newer.pk


def test_a_run_promotes_by_the_rules_when_asked(staff, tiny_version, active_version, settings):
    """A seed model (1 epoch) on real photos against the colour-reading live model, with rules set to pass and to fail."""
    from training import runs
    from training.registry import active_version as live

    settings.PETSITE_TRAINING_OTHER_DIRS = []
    settings.PETSITE_PROMOTION_MAX_ACCURACY_DROP = 1.0
    settings.PETSITE_PROMOTION_MAX_RECALL_DROP = 1.0
    settings.PETSITE_PROMOTION_MAX_PET_UNKNOWN_RISE = 1.0
    run = runs.start_run(None, "seed", epochs=1, activate_on_success=True, user=staff, dispatch=False, dataset_version=tiny_version)
    version = runs.execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded" and run.step == "done" and "now the live model" in run.outcome, run.error
    assert live() == version and version.comparisons.get().decision == "promoted"

    settings.PETSITE_PROMOTION_MAX_ACCURACY_DROP = -1.0  # no model can pass
    run = runs.start_run(None, "seed", epochs=1, activate_on_success=True, user=staff, dispatch=False, dataset_version=tiny_version)
    second = runs.execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded" and "held back as a candidate" in run.outcome
    assert live() == version and second.comparisons.get().decision == "held"


def test_a_finished_or_running_run_is_read_only_with_readable_metrics(client, staff):
    """No save buttons on a run that finished or is running; no empty "Run" row; metrics as a small table."""
    from training.models import TrainingRun

    done = TrainingRun.objects.create(architecture="seed", status=TrainingRun.Status.SUCCEEDED, in_progress=False, created_by=staff,
                                      current_metrics={"loss": 0.123456, "accuracy": 0.9, "epoch": 3})
    page = client.get(f"/admin/training/trainingrun/{done.pk}/change/").content.decode()
    for button in ('name="_save"', 'name="_addanother"', 'name="_continue"'):
        assert button not in page
    assert "<label>Run:</label>" not in page and "{&quot;loss&quot;" not in page and '{"loss"' not in page
    assert "<tr><th>loss</th><td>0.1235</td></tr>" in page and "<tr><th>epoch</th><td>3</td></tr>" in page
    assert client.post(f"/admin/training/trainingrun/{done.pk}/change/", {}).status_code == 403
    TrainingRun.objects.filter(pk=done.pk).update(status="running", in_progress=True)
    page = client.get(f"/admin/training/trainingrun/{done.pk}/change/").content.decode()
    assert 'name="_save"' not in page and 'name="_continue"' not in page
    TrainingRun.objects.filter(pk=done.pk).update(status="interrupted", in_progress=False)
    page = client.get(f"/admin/training/trainingrun/{done.pk}/change/").content.decode()
    assert 'name="_resume_run"' in page  # an interrupted run keeps its Resume button
