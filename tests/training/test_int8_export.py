"""The int8 LiteRT copy (training.quantize, `export_litert --int8`): quantized from a tiny default-architecture model,
verified on the test split against the Keras model, recorded, served only when verified; a bad copy is refused."""
import io
import json
import shutil

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from training import quantize
from training.models import ModelVersion
from training.predictor import Predictor
from training.registry import spec_from_file

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def tiny_default_model(tiny_dataset, tiny_other, tmp_path):
    """A default-architecture model trained at 64 px on the tiny dataset, copied (file and card) into tmp_path."""
    call_command("train", "--data", str(tiny_dataset), "--arch", "default", "--epochs", "40", "--other", str(tiny_other),
                 "--input-size", "64", "--augment-rounds", "1", stdout=io.StringIO(), stderr=io.StringIO())
    version = ModelVersion.objects.get()
    path = tmp_path / "model.keras"
    shutil.copy(version.resolved_path, path)
    spec = version.spec()
    path.with_suffix(".json").write_text(json.dumps({
        "version": spec.version, "classes": list(spec.classes), "input_size": spec.input_size,
        "unknown_threshold": spec.unknown_threshold,
    }))
    return path


def test_int8_export_is_verified_recorded_and_served(tiny_default_model, tiny_dataset):
    out = io.StringIO()
    call_command("export_litert", "--path", str(tiny_default_model), "--data", str(tiny_dataset), "--int8", stdout=out)
    assert "int8" in out.getvalue()
    record = json.loads(quantize.int8_record_path(tiny_default_model).read_text())
    assert record["verified"] is True and record["checked_images"] == 6
    assert record["top1_agreement"] >= quantize.MIN_AGREEMENT and record["accuracy_drop_points"] <= 0.2
    assert record["representative_images"] == 12 and record["source_sha256"] and 0 <= record["answer_agreement"] <= 1
    int8_file = quantize.int8_path(tiny_default_model)
    assert int8_file.stat().st_size < tiny_default_model.with_suffix(".tflite").stat().st_size

    spec = spec_from_file(tiny_default_model)
    assert Predictor(spec, backend="auto").backend == "litert-int8"  # auto prefers the verified int8 copy
    assert Predictor(spec, backend="litert").backend == "litert"
    int8, keras = Predictor(spec, backend="litert-int8"), Predictor(spec, backend="keras")
    batch = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype="uint8")
    assert int8.predict_arrays(batch)[0].shape == keras.predict_arrays(batch)[0].shape == (4, 6)

    # A changed Keras file invalidates the record: the int8 copy is no longer served.
    with open(tiny_default_model, "ab") as handle:
        handle.write(b"\0")
    assert quantize.verified_int8(tiny_default_model) is None


def test_a_bad_int8_export_is_refused_recorded_and_never_served(tiny_default_model, tiny_dataset):
    call_command("export_litert", "--path", str(tiny_default_model), "--data", str(tiny_dataset), stdout=io.StringIO())

    def wrong_model(model, representative):
        # Another model's flatbuffer (the same input and output shapes): its answers disagree with the Keras model's.
        import keras
        import tensorflow as tf

        other = keras.models.clone_model(model)
        other.set_weights(model.get_weights())
        rng = np.random.default_rng(1)
        for layer in other.layers:
            if layer.trainable_weights:  # not the fixed ImageNet group sums, whose log would turn negative sums into NaN
                layer.set_weights([(w + 0.05 * rng.normal(size=w.shape)).astype(w.dtype) if w.ndim > 1 else w
                                   for w in layer.get_weights()])
        return tf.lite.TFLiteConverter.from_keras_model(other).convert()

    with pytest.raises(quantize.Int8Refused) as refused:
        quantize.export_int8(tiny_default_model, tiny_dataset, payload=wrong_model)
    record = json.loads(quantize.int8_record_path(tiny_default_model).read_text())
    assert record == refused.value.record and record["verified"] is False
    assert record["top1_agreement"] < quantize.MIN_AGREEMENT or record["accuracy_drop_points"] > 0.2
    assert not quantize.int8_path(tiny_default_model).exists()
    spec = spec_from_file(tiny_default_model)
    assert Predictor(spec, backend="auto").backend == "litert"  # the verified float copy, not the refused one
    with pytest.raises(FileNotFoundError):
        Predictor(spec, backend="litert-int8")

    # The command says why and fails.
    import training.quantize as module

    original = module.quantized_payload
    module.quantized_payload = wrong_model
    try:
        with pytest.raises(CommandError, match="int8 export refused"):
            call_command("export_litert", "--path", str(tiny_default_model), "--data", str(tiny_dataset), "--int8",
                         stdout=io.StringIO())
    finally:
        module.quantized_payload = original


def test_verification_thresholds():
    labels = np.array([0] * 1000)
    keras = np.eye(3)[np.zeros(1000, dtype=int)]
    int8 = keras.copy()
    int8[:5] = np.eye(3)[1]  # 5 of 1000 disagree: 99.5% agreement, accuracy 0.5 points lower
    result = quantize.verify_int8(keras, int8, labels)
    assert result["top1_agreement"] == 0.995 and result["accuracy_drop_points"] == 0.5 and result["verified"] is False
    int8 = keras.copy()
    int8[:2] = np.eye(3)[1]
    result = quantize.verify_int8(keras, int8, labels)
    assert result["verified"] is True and result["accuracy_drop_points"] == 0.2
