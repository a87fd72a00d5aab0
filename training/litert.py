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


def export_record_path(keras_path):
    """The JSON record of the export's verification (which Keras file, by digest), beside it."""
    return Path(keras_path).with_suffix(".tflite.json")


def read_export_record(path, record_path, keras_path):
    """The JSON record of an export at `path` if both exist, parse, and name this exact Keras file; else None."""
    if not Path(path).exists() or not Path(record_path).exists():
        return None
    try:
        record = json.loads(Path(record_path).read_text())
    except ValueError:
        return None
    return record if record.get("source_sha256") == file_digest(keras_path) else None


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
    import tensorflow as tf

    from training.layers import load_model

    model = load_model(keras_path)
    with quiet_native_output():
        payload = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    path = exported_path(keras_path)
    record = export_record_path(keras_path)
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
        "class_maps_checked": any(layer.name == "class_maps" for layer in model.layers),
    }, indent=2))
    return path, difference


def keras_outputs(outputs):
    """A Keras model's outputs as (probabilities (N, C), pet scores (N,) or None, class maps (N, S', S', C) or None)."""
    if not isinstance(outputs, dict):
        return np.asarray(outputs, dtype="float64"), None, None
    pet_scores, maps = outputs.get("pet_score"), outputs.get("class_maps")
    return (np.asarray(outputs["probabilities"], dtype="float64"),
            None if pet_scores is None else np.asarray(pet_scores, dtype="float64").reshape(-1),
            None if maps is None else np.asarray(maps, dtype="float32"))


def verify_export(model, runner, batch):
    """Top-1 identical and probabilities within EXPORT_TOLERANCE on `batch`; class maps too, when the model has them
    (within EXPORT_TOLERANCE of their largest magnitude). Returns the max probability difference."""
    expected, actual, expected_maps, actual_maps = [], [], [], []
    for i in range(0, len(batch), 32):
        chunk = batch[i:i + 32]
        probabilities, _, maps = keras_outputs(model(np.asarray(chunk, dtype="float32"), training=False))
        expected.append(probabilities)
        if maps is None:
            actual.append(runner.run(chunk)[0])
            continue
        got = runner.run(chunk, with_maps=True)
        actual.append(got[0])
        expected_maps.append(maps)
        actual_maps.append(got[2] if got[2] is not None else np.zeros_like(maps))
    expected, actual = np.concatenate(expected), np.concatenate(actual)
    difference = float(np.abs(expected - actual).max())
    if (expected.argmax(axis=1) != actual.argmax(axis=1)).any() or difference > EXPORT_TOLERANCE:
        raise ValueError(f"LiteRT export disagrees with the Keras model (max probability difference {difference:.2e})")
    if expected_maps:
        expected_maps, actual_maps = np.concatenate(expected_maps), np.concatenate(actual_maps)
        scale = max(1.0, float(np.abs(expected_maps).max()))
        map_difference = float(np.abs(expected_maps - actual_maps).max()) if expected_maps.shape == actual_maps.shape else np.inf
        if map_difference > EXPORT_TOLERANCE * scale:
            raise ValueError(f"LiteRT export's class maps disagree with the Keras model's (max difference {map_difference:.2e})")
    return difference


class LiteRTRunner:
    """Runs a .tflite model; returns (probabilities (N, C), pet scores (N,) or None[, class maps or None]).

    Outputs are told apart by shape, as the converter names them after its graph, not the Keras outputs:
    (N, S', S', C) class maps, (N, 1) the pet score, (N, C) the probabilities (a single output is always those).
    """

    def __init__(self, path, num_threads=None):
        from ai_edge_litert.interpreter import Interpreter

        from .predictor import inference_threads  # (predictor imports this module)

        self.path = Path(path)
        self.num_threads = num_threads or inference_threads()
        self._interpreter_class = Interpreter
        self._by_batch = {}
        self._lock = threading.Lock()  # an interpreter is not safe to share between threads

    def _interpreter(self, shape):
        entry = self._by_batch.get(shape)
        if entry is None:
            with quiet_native_output():
                interpreter = self._interpreter_class(model_path=str(self.path), num_threads=self.num_threads)
                index = interpreter.get_input_details()[0]["index"]
                interpreter.resize_tensor_input(index, list(shape), strict=False)
                interpreter.allocate_tensors()
            entry = self._by_batch[shape] = (interpreter, index, self._roles(interpreter.get_output_details()))
        return entry

    @staticmethod
    def _roles(details):
        """{"probabilities": tensor index, "pet_score": index or None, "class_maps": index or None}."""
        roles = {"probabilities": None, "pet_score": None, "class_maps": None}
        for detail in details:
            shape = detail["shape"]
            if len(details) > 1 and len(shape) == 4:
                roles["class_maps"] = detail["index"]
            elif len(details) > 1 and len(shape) == 2 and shape[1] == 1:
                roles["pet_score"] = detail["index"]
            else:
                roles["probabilities"] = detail["index"]
        return roles

    def run(self, batch, with_maps=False):
        batch = np.asarray(batch, dtype="float32")
        with self._lock:
            interpreter, index, roles = self._interpreter(batch.shape)
            interpreter.set_tensor(index, batch)
            interpreter.invoke()
            probabilities = np.asarray(interpreter.get_tensor(roles["probabilities"]), dtype="float64")
            pet_scores = None if roles["pet_score"] is None else np.asarray(interpreter.get_tensor(roles["pet_score"]), dtype="float64").reshape(-1)
            if not with_maps:
                return probabilities, pet_scores
            maps = None if roles["class_maps"] is None else np.array(interpreter.get_tensor(roles["class_maps"]), dtype="float32")
        return probabilities, pet_scores, maps


def check_batch_from_images(image_paths, input_size):
    """Prepared uint8 arrays of real photos, the batch an export is verified on."""
    from ingestion.images import image_to_array, open_image

    return np.stack([image_to_array(open_image(path), input_size) for path in image_paths])
