"""An exported LiteRT (TFLite) copy of a Keras model, for fast CPU serving.

On two cores the XNNPACK-delegated interpreter runs EfficientNet-Lite0 several times faster
than calling the Keras model, with the same answers (checked by `verify_export` before a copy
is ever used). The Keras file stays the source of truth; the `.tflite` beside it is derived.
"""
import contextlib
import hashlib
import json
import os
import sys
import threading
from pathlib import Path

import numpy as np

# Probabilities of the exported copy must match the Keras model within this, top-1 identical.
EXPORT_TOLERANCE = 1e-3


def exported_path(keras_path):
    return Path(keras_path).with_suffix(".tflite")


def file_digest(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def quiet_native_output():
    """Silence stdout and stderr at the file-descriptor level for a moment.

    The converter prints every TensorSpec of the traced function and the interpreter announces its XNNPACK
    delegate from C++; commands should print progress and results, not that. Only brief, rare steps (a
    conversion, an interpreter's creation) run inside this, so other threads lose nothing worth keeping.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def export_tflite(keras_path, check_batch, threads=None):
    """Convert the Keras model at `keras_path` to LiteRT float32 beside it, verified on `check_batch`.

    The export is recorded as verified (with the Keras file's digest) only if it gives the same
    answers; the predictor never serves an export whose record does not match its Keras file.
    """
    import keras
    import tensorflow as tf

    model = keras.models.load_model(keras_path, compile=False)
    with quiet_native_output():
        payload = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    path = exported_path(keras_path)
    record = path.with_suffix(".tflite.json")
    record.unlink(missing_ok=True)
    tmp = path.with_suffix(".tflite.tmp")
    tmp.write_bytes(payload)
    tmp.replace(path)
    difference = verify_export(model, LiteRTRunner(path, num_threads=threads), check_batch)
    record.write_text(json.dumps({
        "source": Path(keras_path).name,
        "source_sha256": file_digest(keras_path),
        "checked_images": int(len(check_batch)),
        "max_probability_difference": difference,
    }, indent=2))
    return path, difference


def _probabilities(outputs):
    if isinstance(outputs, dict):
        return np.asarray(outputs["probabilities"], dtype="float64")
    return np.asarray(outputs, dtype="float64")


def verify_export(model, runner, batch):
    """Top-1 identical and probabilities within EXPORT_TOLERANCE on `batch`; returns the max difference."""
    expected = np.concatenate([
        _probabilities(model(np.asarray(batch[i:i + 32], dtype="float32"), training=False))
        for i in range(0, len(batch), 32)
    ])
    actual = np.concatenate([runner.run(batch[i:i + 32])[0] for i in range(0, len(batch), 32)])
    difference = float(np.abs(expected - actual).max())
    if (expected.argmax(axis=1) != actual.argmax(axis=1)).any() or difference > EXPORT_TOLERANCE:
        raise ValueError(f"LiteRT export disagrees with the Keras model (max probability difference {difference:.2e})")
    return difference


class LiteRTRunner:
    """Runs a .tflite model; returns (probabilities (N, C), pet scores (N,) or None)."""

    def __init__(self, path, num_threads=None):
        from ai_edge_litert.interpreter import Interpreter

        from .predictor import inference_threads  # (predictor imports this module)

        self.path = Path(path)
        self.num_threads = num_threads or inference_threads()
        self._interpreter_class = Interpreter
        self._by_batch = {}
        self._lock = threading.Lock()  # an interpreter is not safe to share between threads

    def _interpreter(self, shape):
        interpreter = self._by_batch.get(shape)
        if interpreter is None:
            with quiet_native_output():
                interpreter = self._interpreter_class(model_path=str(self.path), num_threads=self.num_threads)
                index = interpreter.get_input_details()[0]["index"]
                interpreter.resize_tensor_input(index, list(shape), strict=False)
                interpreter.allocate_tensors()
            self._by_batch[shape] = interpreter
        return interpreter

    def run(self, batch):
        batch = np.asarray(batch, dtype="float32")
        with self._lock:
            interpreter = self._interpreter(batch.shape)
            interpreter.set_tensor(interpreter.get_input_details()[0]["index"], batch)
            interpreter.invoke()
            outputs = {detail["name"]: interpreter.get_tensor(detail["index"]) for detail in interpreter.get_output_details()}
        return self._split(outputs)

    @staticmethod
    def _split(outputs):
        if len(outputs) == 1:
            return np.asarray(next(iter(outputs.values())), dtype="float64"), None
        probabilities = pet_scores = None
        for name, value in outputs.items():
            value = np.asarray(value, dtype="float64")
            if value.ndim == 2 and value.shape[1] == 1:
                pet_scores = value.reshape(-1)
            else:
                probabilities = value
        return probabilities, pet_scores


def check_batch_from_images(image_paths, input_size):
    """Prepared uint8 arrays of real photos, the batch an export is verified on."""
    from ingestion.images import image_to_array, open_image

    return np.stack([image_to_array(open_image(path), input_size) for path in image_paths])
