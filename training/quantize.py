"""An int8 LiteRT copy of a Keras model (post-training quantization), served only when verified.

`export_int8(keras_path, data_dir)` quantizes the model's weights and activations to int8 (TFLite's full-integer
post-training quantization, calibrated on a representative set of the dataset's *training* photos; input and output
stay float32, so the serving contract and LiteRTRunner are unchanged), writes `<model>.int8.tflite` beside the Keras
file, and verifies it on the dataset's *test* split against the Keras model:

- top-1 (the class with the highest probability) agrees with the Keras model's on at least MIN_AGREEMENT of the photos;
- accuracy (top-1 against the folder label) drops by at most MAX_ACCURACY_DROP_POINTS percentage points.

The verification, passed or not, is recorded in `<model>.int8.tflite.json` with the Keras file's digest;
training.predictor serves the int8 copy only when that record says verified for this exact Keras file. A copy that
fails is removed (the record stays, saying why) and `export_int8` raises Int8Refused.
"""
import json
import random
from pathlib import Path

import numpy as np

from .litert import LiteRTRunner, file_digest, keras_outputs, quiet_native_output, read_export_record
from .metrics import site_predictions

MIN_AGREEMENT = 0.995
MAX_ACCURACY_DROP_POINTS = 0.2
REPRESENTATIVE_IMAGES = 200


class Int8Refused(ValueError):
    """The int8 copy did not pass verification; `record` is what was written beside the model."""

    def __init__(self, message, record):
        super().__init__(message)
        self.record = record


def int8_path(keras_path):
    return Path(keras_path).with_suffix(".int8.tflite")


def int8_record_path(keras_path):
    return Path(keras_path).with_suffix(".int8.tflite.json")


def representative_paths(train_paths, count=REPRESENTATIVE_IMAGES, seed=0):
    """Up to `count` training photos spread over the list (a fixed shuffle: the same set each run)."""
    paths = list(train_paths)
    random.Random(seed).shuffle(paths)
    return sorted(paths[:count])


def quantized_payload(model, representative):
    """TFLite flatbuffer of `model` with int8 weights and activations, float32 input and output."""
    import tensorflow as tf

    def samples():
        for array in representative:
            yield [np.asarray(array, dtype="float32")[None]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = samples
    with quiet_native_output():
        return converter.convert()


def top1(probabilities):
    return np.asarray(probabilities).argmax(axis=1)


def _finite(value):
    """A float for the JSON record; None for NaN or infinity (a broken copy), which JSON cannot hold."""
    value = float(value)
    return value if np.isfinite(value) else None


def verify_int8(keras_probabilities, int8_probabilities, labels, keras_scores=None, int8_scores=None, threshold=None):
    """The verification record's numbers for top-1 of both models on photos whose true class indices are `labels`
    (the criteria), and how often the site's answers (with "not a pet" under `threshold`) agree (for information)."""
    keras_top, int8_top, labels = top1(keras_probabilities), top1(int8_probabilities), np.asarray(labels)
    agreement = float((keras_top == int8_top).mean())
    keras_accuracy = float((keras_top == labels).mean())
    int8_accuracy = float((int8_top == labels).mean())
    drop = round((keras_accuracy - int8_accuracy) * 100.0, 4)
    return {
        "checked_images": int(len(labels)),
        "top1_agreement": round(agreement, 6),
        "keras_accuracy": round(keras_accuracy, 6),
        "int8_accuracy": round(int8_accuracy, 6),
        "accuracy_drop_points": drop,
        "max_probability_difference": _finite(np.abs(np.asarray(keras_probabilities) - np.asarray(int8_probabilities)).max()),
        "answer_agreement": round(float((site_predictions(keras_probabilities, keras_scores, threshold)
                                         == site_predictions(int8_probabilities, int8_scores, threshold)).mean()), 6),
        "required": {"min_top1_agreement": MIN_AGREEMENT, "max_accuracy_drop_points": MAX_ACCURACY_DROP_POINTS},
        "verified": agreement >= MIN_AGREEMENT and drop <= MAX_ACCURACY_DROP_POINTS,
    }


def export_int8(keras_path, data_dir, representative=REPRESENTATIVE_IMAGES, threads=None, payload=None, progress=None):
    """Quantize, write and verify the int8 copy of the model at `keras_path` on dataset `data_dir` (train/ and test/
    per class, as rebuild_dataset writes it). Returns (path, record); raises Int8Refused when verification fails.

    `payload`: a function (model, representative arrays) -> flatbuffer, quantized_payload by default."""
    from training import pipeline
    from training.layers import load_model
    from training.registry import spec_from_file

    say = progress or (lambda message: None)
    spec = spec_from_file(keras_path)
    train, test = pipeline.read_dataset(data_dir, spec.classes)
    model = load_model(keras_path)
    calibration = [pipeline.load_array(p, spec.input_size) for p in representative_paths(train.paths, representative)]
    say(f"quantizing to int8, calibrated on {len(calibration)} training photos ...")
    flatbuffer = (payload or quantized_payload)(model, calibration)
    path, record_path = int8_path(keras_path), int8_record_path(keras_path)
    record_path.unlink(missing_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(flatbuffer)
    tmp.replace(path)

    say(f"verifying on {len(test)} test photos against the Keras model ...")
    runner = LiteRTRunner(path, num_threads=threads)

    def keras_predict(batch):
        return keras_outputs(model(np.asarray(batch, dtype="float32"), training=False))[:2]

    keras_probabilities, keras_scores = pipeline.predict_paths(keras_predict, test.paths, spec.input_size)
    int8_probabilities, int8_scores = pipeline.predict_paths(runner.run, test.paths, spec.input_size)
    record = {
        "source": Path(keras_path).name,
        "source_sha256": file_digest(keras_path),
        "quantization": "int8 weights and activations (post-training, full integer), float32 input and output",
        "representative_images": len(calibration),
        "test_split": str(Path(data_dir) / "test"),
        **verify_int8(keras_probabilities, int8_probabilities, test.labels, keras_scores, int8_scores, spec.unknown_threshold),
    }
    record_path.write_text(json.dumps(record, indent=2))
    if not record["verified"]:
        path.unlink(missing_ok=True)
        raise Int8Refused(
            f"int8 export refused: top-1 agrees with the Keras model on {100 * record['top1_agreement']:.2f}% of "
            f"{record['checked_images']} test photos (needs {100 * MIN_AGREEMENT:.1f}%), accuracy drop "
            f"{record['accuracy_drop_points']:.2f} points (at most {MAX_ACCURACY_DROP_POINTS}); recorded in {record_path}",
            record,
        )
    return path, record


def verified_int8(keras_path):
    """The int8 copy beside `keras_path` if its record says verified for this exact Keras file, else None."""
    path = int8_path(keras_path)
    record = read_export_record(path, int8_record_path(keras_path), keras_path)
    return path if record is not None and record.get("verified") else None
