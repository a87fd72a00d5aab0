"""The shipped model appears in the registry (metrics, confusion matrix), active only if nothing else is."""
import pytest
from django.core.management import call_command

from training.models import ModelVersion
from training.registry import active_spec

pytestmark = pytest.mark.django_db


def test_register_shipped_model_once_and_activate_it(tiny_model_path, settings):
    call_command("register_shipped_model")
    call_command("register_shipped_model")  # idempotent

    version = ModelVersion.objects.get()
    assert version.name == "tiny-test" and version.is_active
    assert version.input_size == 32 and version.classes[1] == "cat"
    assert active_spec().path == tiny_model_path.resolve()


def test_an_active_trained_version_stays_active(tiny_model_path, tmp_path):
    other = ModelVersion.objects.create(name="trained-1", architecture="default", file_path=str(tiny_model_path), input_size=32, is_active=True)
    call_command("register_shipped_model")
    other.refresh_from_db()
    assert other.is_active
    assert not ModelVersion.objects.get(name="tiny-test").is_active


def test_an_active_version_whose_file_is_gone_falls_back_to_the_shipped_model(tiny_model_path, tmp_path, caplog):
    ModelVersion.objects.create(name="moved", architecture="default", file_path=str(tmp_path / "gone.keras"), input_size=32, is_active=True)
    spec = active_spec()
    assert spec.version == "tiny-test" and spec.path == tiny_model_path
    assert "active model moved has no file" in caplog.text
