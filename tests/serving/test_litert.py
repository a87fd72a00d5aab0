"""The LiteRT serving path gives the Keras model's answers, and is never used unverified or stale."""
import shutil

import numpy as np
import pytest

from tests.conftest import PETS, REPO, pet_photos
from training.litert import check_batch_from_images, export_tflite, exported_path
from training.predictor import Predictor, usable_export
from training.registry import spec_from_file


@pytest.fixture(scope="module")
def exported_model(tmp_path_factory, tiny_model_path):
    directory = tmp_path_factory.mktemp("exported")
    model = shutil.copy(tiny_model_path, directory / "model.keras")
    shutil.copy(tiny_model_path.with_suffix(".json"), directory / "model.json")
    photos = [p for label in ("cat", "dog", "fish") for p in pet_photos(label, 4)]
    export_tflite(model, check_batch_from_images(photos, 32))
    return spec_from_file(model)


def test_export_matches_keras_on_real_photos(exported_model):
    photos = sorted(PETS.glob("*/*.jpg"))[::97][:30]
    batch = check_batch_from_images(photos, exported_model.input_size)
    keras_probs, _ = Predictor(exported_model, backend="keras").predict_arrays(batch)
    litert = Predictor(exported_model, backend="litert")
    assert litert.backend == "litert"
    litert_probs, _ = litert.predict_arrays(batch)
    assert (keras_probs.argmax(axis=1) == litert_probs.argmax(axis=1)).all()
    assert np.abs(keras_probs - litert_probs).max() < 1e-3


def test_auto_backend_prefers_verified_export(exported_model):
    assert Predictor(exported_model).backend == "litert"


def test_stale_export_is_not_served(exported_model, tmp_path):
    # A retrained model file with the old export beside it: the export no longer matches and is ignored.
    for suffix in (".keras", ".json", ".tflite", ".tflite.json"):
        shutil.copy(exported_model.path.with_suffix(suffix), tmp_path / f"model{suffix}")
    changed = tmp_path / "model.keras"
    changed.write_bytes(changed.read_bytes() + b"\0")
    spec = spec_from_file(changed)
    assert usable_export(spec) is None
    with pytest.raises(FileNotFoundError):
        Predictor(spec, backend="litert")


def test_export_that_disagrees_is_rejected(exported_model, tmp_path, monkeypatch):
    import training.litert as litert

    for suffix in (".keras", ".json"):
        shutil.copy(exported_model.path.with_suffix(suffix), tmp_path / f"model{suffix}")
    real_run = litert.LiteRTRunner.run
    monkeypatch.setattr(litert.LiteRTRunner, "run", lambda self, batch: (real_run(self, batch)[0][:, ::-1], None))
    batch = check_batch_from_images(pet_photos("cat", 3), 32)
    with pytest.raises(ValueError, match="disagrees"):
        export_tflite(tmp_path / "model.keras", batch)
    assert not exported_path(tmp_path / "model.keras").with_suffix(".tflite.json").exists()
    assert usable_export(spec_from_file(tmp_path / "model.keras")) is None


def test_native_output_is_silenced_only_inside_the_block():
    """Converter signatures and the XNNPACK banner are written by native code straight to fds 1 and 2."""
    import subprocess
    import sys

    code = (
        "import os\n"
        "from training.litert import quiet_native_output\n"
        "with quiet_native_output():\n"
        "    os.write(1, b'TensorSpec(noise)\\n'); os.write(2, b'INFO: XNNPACK noise\\n'); print('hidden too')\n"
        "print('result line')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert done.stdout == "result line\n"
    assert "noise" not in done.stderr


def test_classify_prints_results_not_the_delegate_banner():
    import subprocess
    import sys

    photo = sorted((PETS / "cat").glob("*.jpg"))[0]
    done = subprocess.run([sys.executable, "manage.py", "classify", str(photo)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1 and str(photo) in done.stdout
    assert "XNNPACK" not in done.stderr and "TensorSpec" not in done.stdout + done.stderr
