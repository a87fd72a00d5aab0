"""Training admin pages with nothing to edit offer no save buttons (an interrupted run keeps Resume) and say a run's error
once, in its live progress under the status."""
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from training.models import ModelVersion, TrainingRun

pytestmark = pytest.mark.django_db

SAVE_BUTTONS = ('name="_save"', 'name="_continue"', 'name="_addanother"')


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("staff", "staff@example.com", "pw-for-tests")
    client.force_login(user)
    return user


def assert_read_only(page):
    for button in SAVE_BUTTONS:
        assert button not in page, button
    assert "closelink" in page


def run_page(client, run):
    return client.get(reverse("admin:training_trainingrun_change", args=[run.pk])).content.decode()


def test_an_interrupted_run_has_resume_but_no_save_buttons_and_says_why_once(client, staff):
    reason = "Interrupted: its worker stopped reporting in step 2 (train)."
    run = TrainingRun.objects.create(architecture="seed", status=TrainingRun.Status.INTERRUPTED, in_progress=False, error=reason,
                                     created_by=staff)
    page = run_page(client, run)
    assert_read_only(page)
    assert 'name="_resume_run"' in page
    assert page.count(reason) == 1 and "field-error" not in page
    assert page.index("field-status") < page.index(reason) < page.index('name="_resume_run"')
    assert reverse("admin:training_trainingrun_delete", args=[run.pk]) in page


@pytest.mark.parametrize("status, error", [
    (TrainingRun.Status.FAILED, "ResourceExhaustedError: out of memory in epoch 2"),
    (TrainingRun.Status.CANCELLED, "Cancelled by an operator; the active model is unchanged."),
])
def test_a_failed_or_cancelled_run_says_its_error_once(client, staff, status, error):
    run = TrainingRun.objects.create(architecture="seed", status=status, in_progress=False, error=error, created_by=staff)
    page = run_page(client, run)
    assert_read_only(page)
    assert page.count(error) == 1 and "field-error" not in page


def test_a_succeeded_run_says_its_outcome_once(client, staff):
    version = ModelVersion.objects.create(name="seed-1", architecture="seed", classes=["cat", "dog"], file_path="/tmp/seed-1.keras")
    outcome = "Held back as a candidate: accuracy fell 2.0 points."
    run = TrainingRun.objects.create(architecture="seed", status=TrainingRun.Status.SUCCEEDED, in_progress=False, outcome=outcome,
                                     model_version=version, created_by=staff)
    page = run_page(client, run)
    assert_read_only(page)
    assert page.count(outcome) == 1 and "field-outcome" not in page


def test_the_training_run_add_page_keeps_its_save_button(client, staff):
    page = client.get(reverse("admin:training_trainingrun_add")).content.decode()
    assert 'name="_save"' in page and 'name="architecture"' in page


def test_a_model_version_page_has_no_save_buttons_but_keeps_its_actions(client, staff):
    version = ModelVersion.objects.create(name="seed-2", architecture="seed", classes=["cat", "dog"], file_path="/tmp/seed-2.keras")
    page = client.get(reverse("admin:training_modelversion_change", args=[version.pk])).content.decode()
    assert_read_only(page)
    assert reverse("admin:training_modelversion_delete", args=[version.pk]) in page
    actions = client.get(reverse("admin:training_modelversion_changelist")).content.decode()
    assert 'value="activate_selected"' in actions and 'value="promote_selected"' in actions
