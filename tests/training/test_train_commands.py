"""train / evaluate commands on a tiny dataset, the registry (activate, roll back) and a failed run."""
import io
import json

import pytest
from django.core.management import call_command

from training.layers import load_model
from training.models import ModelVersion

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _train(tiny_dataset, tiny_other, arch="default", *extra):
    out = io.StringIO()
    args = ["train", "--data", str(tiny_dataset), "--arch", arch, "--epochs", "2", "--other", str(tiny_other)]
    args += ["--input-size", "64" if arch == "default" else "32", "--augment-rounds", "1", *extra]
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_train_default_registers_a_version_with_metrics_and_pictures(tiny_dataset, tiny_other):
    from training.recipes import cache_dir

    output = _train(tiny_dataset, tiny_other, "default", "--activate")
    version = ModelVersion.objects.get()
    assert version.is_active and version.architecture == "default" and version.input_size == 64
    assert version.resolved_path.exists()
    assert "accuracy" in output and "confusion matrix" in output
    metrics = version.metrics
    assert 0.0 <= metrics["accuracy"] <= 1.0 and 0.0 <= metrics["ece"] <= 1.0
    assert set(metrics["per_class"]) == {"bird", "cat", "dog", "dragon", "fish", "hamster"}
    assert metrics["per_class"]["cat"]["support"] == 2 and metrics["per_class"]["hamster"]["support"] == 0
    assert len(metrics["confusion_matrix"]) == 6
    assert metrics["unknown"]["other_images"] > 0 and version.unknown_threshold is not None
    # abstract pictures (PETSITE_TRAINING_ABSTRACT_PICTURES, 6 in tests) joined the non-pet photos as a kind of their own
    abstract = cache_dir() / "abstract"
    assert version.params["other_kinds"] == ["abstract", "food", "vehicles"]
    assert version.params["other_dirs"] == [str(tiny_other), str(abstract)]
    assert len(list((abstract / "abstract").glob("*.png"))) == 6
    # the threshold was chosen on cross-fitted scores of every training photo and the validation photos
    fit = metrics["unknown"]["threshold_fit"]
    assert fit["method"].startswith("cross-fitted")
    assert fit["pets"] == sum(version.class_counts["train"].values()) + sum(version.class_counts["validation"].values())
    assert fit["other_images"] == version.params["other_fit_images"] + version.params["other_validation_images"]
    assert version.class_counts["test"]["cat"] == 2 and version.class_counts["train"]["hamster"] == 0
    assert version.dataset_digest.startswith("sha256:")
    assert version.training_seconds > 0 and version.params["epochs"] == 2
    for image in (version.curves_image, version.confusion_image):
        assert image and image.path.endswith(".png")
        assert open(image.path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"

    # the saved file follows the serving contract and loads in Keras' safe mode
    import numpy as np

    model = load_model(version.resolved_path)
    out = model(np.zeros((2, 64, 64, 3), "float32"))
    assert out["probabilities"].shape == (2, 6) and out["pet_score"].shape == (2, 1)
    assert {type(layer).__name__ for layer in model.layers} <= {
        "InputLayer", "Rescaling", "Conv2D", "DepthwiseConv2D", "BatchNormalization", "ReLU", "Add",
        "GlobalAveragePooling2D", "Dropout", "Dense", "Concatenate", "Activation",
        "Log",  # the project's one layer of its own (training.layers)
    }

    # evaluate --json on the registered version
    buffer = io.StringIO()
    call_command("evaluate", "--data", str(tiny_dataset), "--model", version.name, "--other", str(tiny_other), "--json", stdout=buffer)
    report = json.loads(buffer.getvalue())
    assert report["model_version"] == version.name
    assert report["accuracy"] == pytest.approx(metrics["accuracy"])
    assert {"per_class", "confusion_matrix", "ece", "unknown"} <= set(report)

    # the plain-text report, on the active model by default
    buffer = io.StringIO()
    call_command("evaluate", "--data", str(tiny_dataset), stdout=buffer)
    assert version.name in buffer.getvalue() and "ECE" in buffer.getvalue()


def test_train_seed_and_activate_then_roll_back(tiny_dataset, tiny_other, client, django_user_model):
    from training.registry import active_spec

    _train(tiny_dataset, tiny_other, "seed", "--activate")
    first = ModelVersion.objects.get()
    assert first.architecture == "seed" and first.input_size == 32 and first.is_active
    _train(tiny_dataset, tiny_other, "seed", "--activate", "--name", "seed-second")
    second = ModelVersion.objects.get(name="seed-second")
    first.refresh_from_db()
    assert second.is_active and not first.is_active
    assert active_spec().version == "seed-second"

    admin = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-12345678")
    client.force_login(admin)
    url = "/admin/training/modelversion/"
    assert client.get(f"{url}{second.pk}/change/").status_code == 200
    response = client.post(url, {"action": "roll_back", "_selected_action": [second.pk]}, follow=True)
    assert response.status_code == 200
    first.refresh_from_db(), second.refresh_from_db()
    assert first.is_active and not second.is_active
    assert active_spec().version == first.name
    client.post(url, {"action": "activate_selected", "_selected_action": [second.pk]})
    second.refresh_from_db()
    assert second.is_active and ModelVersion.objects.filter(is_active=True).count() == 1


def test_train_command_reports_a_missing_dataset(tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="does not exist"):
        call_command("train", "--data", str(tmp_path / "nope"), "--arch", "seed", stdout=io.StringIO(), stderr=io.StringIO())


def test_default_can_fine_tune_the_top_block_without_other_photos(tiny_dataset):
    from training.recipes import TrainingOptions, train_model

    seen = []
    options = TrainingOptions("default", epochs=1, input_size=64, augment_rounds=0, finetune_epochs=1)
    version = train_model(tiny_dataset, options, progress=lambda phase, done, total, metrics: seen.append(phase))
    assert version.params["finetune_epochs"] == 1 and version.params["finetuned_from"] == "block14_add"
    assert version.unknown_threshold is None and version.metrics["unknown"]["other_unknown_rate"] is None
    assert version.params["other_kinds"] == []  # no non-pet folders: no abstract pictures either
    assert any(p.startswith("fine-tune epoch") for p in seen) and "epoch" in seen
    assert not version.is_active


def test_a_cancel_during_the_cross_fitted_heads_stops_within_the_first_fold(tiny_dataset, tiny_other):
    """The four threshold heads train for minutes on real data: a cancel must not wait for a fold to end."""
    from training.progress import TrainingCancelled
    from training.recipes import TrainingOptions, train_model

    seen, epochs_heard = [], []

    def progress(phase, done, total, metrics):
        seen.append((phase, done))

    def should_stop():
        if ("threshold: cross-fitted heads", 0) not in seen:
            return False
        epochs_heard.append(1)
        return True  # asked once the cross-fitted heads have started

    options = TrainingOptions("default", epochs=5, input_size=64, other_dirs=(str(tiny_other),))
    with pytest.raises(TrainingCancelled):
        train_model(tiny_dataset, options, progress=progress, should_stop=should_stop)
    assert ("threshold: cross-fitted heads", 1) not in seen  # heard during the first fold, not after it
    assert len(epochs_heard) == 1
    assert not ModelVersion.objects.exists()


def test_train_refuses_a_reused_or_unsafe_version_name_before_training(tmp_path, tiny_model_path):
    from django.core.management.base import CommandError

    ModelVersion.objects.create(name="taken", architecture="default", file_path=str(tiny_model_path), input_size=32)
    with pytest.raises(CommandError, match="already exists"):
        call_command("train", "--data", str(tmp_path / "nope"), "--name", "taken", stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="letters, digits"):
        call_command("train", "--data", str(tmp_path / "nope"), "--name", "../../x", stdout=io.StringIO(), stderr=io.StringIO())
