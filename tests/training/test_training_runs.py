"""TrainingRun from the admin: staff only, one at a time, live progress, failures and cancels leave the active model alone."""
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
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("staff", "staff@example.com", "pw-12345678")
    client.force_login(user)
    return user


@pytest.fixture
def active_version(tiny_model_path):
    from training.registry import activate

    version = ModelVersion.objects.create(name="tiny-active", architecture="tiny", classes=["bird", "cat", "dog", "dragon", "fish", "hamster"],
                                          input_size=32, file_path=str(tiny_model_path))
    return activate(version)


def _start(client, data_dir, arch="default", epochs="2"):
    return client.post(ADD_URL, {"architecture": arch, "data_dir": str(data_dir), "epochs": epochs}, follow=True)


def test_only_staff_can_open_or_start_runs(client, django_user_model, tiny_dataset, dispatched):
    assert client.get(ADD_URL).status_code == 302  # anonymous: to the login page
    user = django_user_model.objects.create_user("visitor", password="pw-12345678")
    client.force_login(user)
    response = client.post(ADD_URL, {"architecture": "seed", "data_dir": str(tiny_dataset)})
    assert response.status_code in (302, 403) and not TrainingRun.objects.exists()
    assert not dispatched


def test_staff_start_a_run_a_second_is_refused_and_the_run_trains(client, staff, tiny_dataset, tiny_other, dispatched, settings, active_version):
    settings.PETSITE_TRAINING_OTHER_DIRS = [str(tiny_other)]
    page = client.get(ADD_URL)
    assert page.status_code == 200 and b"data_dir" in page.content
    response = _start(client, tiny_dataset)
    run = TrainingRun.objects.get()
    assert response.status_code == 200 and run.status == "queued" and run.in_progress and run.created_by == staff
    assert dispatched == [("training.run_training", (run.pk,))]
    assert b"training-run-progress" in response.content

    second = _start(client, tiny_dataset, "seed")
    assert b"Another training run is in progress" in second.content
    assert TrainingRun.objects.count() == 1 and len(dispatched) == 1

    # the worker side: the Celery task function, run here synchronously
    from training.tasks import run_training

    name = run_training.apply(args=(run.pk,)).get()
    run.refresh_from_db()
    assert run.status == "succeeded" and not run.in_progress, run.error
    assert run.model_version.name == name and run.total_epochs == 2 and run.epoch >= 1
    assert 0 < run.model_version.metrics["accuracy"] <= 1
    active_version.refresh_from_db()
    assert active_version.is_active  # activate_on_success was off

    progress = client.get(f"/admin/training/trainingrun/{run.pk}/progress/").json()
    assert progress["status"] == "succeeded" and progress["fraction"] == 1.0 and progress["model_version"] == name
    assert client.get(f"/admin/training/trainingrun/{run.pk}/change/").status_code == 200
    assert b"<progress" in client.get("/admin/training/trainingrun/").content

    # finished: a new run may start
    _start(client, tiny_dataset, "seed")
    assert TrainingRun.objects.filter(in_progress=True).count() == 1


def test_a_failed_run_leaves_the_active_model_untouched(client, staff, tmp_path, dispatched, active_version):
    broken = tmp_path / "broken-dataset"
    (broken / "train").mkdir(parents=True)  # exists, but holds no photos
    _start(client, broken)
    run = TrainingRun.objects.get()
    from training.runs import execute_run

    assert execute_run(run.pk) is None
    run.refresh_from_db()
    assert run.status == "failed" and not run.in_progress and "holds no images" in run.error
    assert list(ModelVersion.objects.filter(is_active=True)) == [active_version]
    assert client.get(f"/admin/training/trainingrun/{run.pk}/progress/").json()["text"].startswith("Failed:")


def test_a_cancelled_run_registers_nothing(client, staff, tiny_dataset, dispatched, active_version, settings):
    settings.PETSITE_TRAINING_OTHER_DIRS = []
    _start(client, tiny_dataset, "default", "2")
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
    run = runs.start_run(tiny_dataset, "seed", epochs=1, activate_on_success=True, user=staff, dispatch=False)

    def refuse(version):
        raise RuntimeError("model file vanished")

    monkeypatch.setattr(runs, "activate_version", refuse)
    version = runs.execute_run(run.pk)

    run.refresh_from_db()
    assert version is not None and run.model_version == version
    assert run.status == "failed" and not run.in_progress and "activating it failed" in run.error
    assert list(ModelVersion.objects.filter(is_active=True)) == [active_version]
