"""Run one saved model (a ModelSpec) on decoded images: preprocessing (ingestion.images.image_to_array) and the
forward pass, returning class probabilities and pet scores. It does not choose which model serves or turn scores
into labels: classifier.inference does that for the site, the API and the CLI; training.evaluation uses this
directly to measure a model as it will serve.

Contract for every model this project saves: input (N, S, S, 3) float32 RGB in 0..255, the
preprocessing (scaling) inside the model; output either the class probabilities (N, C), or a
dict with "probabilities" (N, C) and "pet_score" (N, 1), the model's belief that the photo shows
one of the pets at all. Without a pet score the top probability stands in for it (`has_pet_score` False: the site
then stores no pet score, see classifier.inference). A model may also output
"class_maps" (N, S', S', C), where in the (fitted and padded) picture it found each class
(training.architectures.with_class_maps); asked for with `with_maps=True`, None for a model without them.

Two backends run that contract: Keras (the saved model itself) and LiteRT (a verified export
beside it, see training/litert.py), which is several times faster on a 2-core CPU and does not
need TensorFlow loaded in the serving process.
"""
import contextlib
import os
import time
from pathlib import Path

import numpy as np

from ingestion.conf import setting
from ingestion.images import image_to_array

from .litert import LiteRTRunner, export_record_path, exported_path, keras_outputs, read_export_record


CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cores(cpu_max=CGROUP_CPU_MAX):
    """CPUs this process may use: its affinity mask, capped by a container's (cgroup v2) CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    with contextlib.suppress(OSError, ValueError):
        quota, period = Path(cpu_max).read_text().split()[:2]
        if quota != "max":
            cores = min(cores, int(quota) // int(period))
    return max(1, cores)


def inference_threads(concurrency=1, cores=None, override=0):
    """Threads for one inference call: `override` when set (PETSITE_INFERENCE_THREADS), else the cores shared
    by the `concurrency` inferences that run at once on them, at least 1; more would only oversubscribe the CPU."""
    if override and int(override) > 0:
        return int(override)
    cores = available_cores() if cores is None else cores
    return max(1, int(cores) // max(1, int(concurrency)))


BACKENDS = ("auto", "litert", "litert-int8", "keras")


def usable_export(spec, kind="float"):
    """The LiteRT export of spec's model if it exists and was verified against this exact Keras file; kind "int8":
    the int8 copy (training.quantize), only if its verification passed."""
    if kind == "int8":
        from .quantize import verified_int8

        return verified_int8(spec.path)
    path = exported_path(spec.path)
    return path if read_export_record(path, export_record_path(spec.path), spec.path) is not None else None


class Predictor:
    def __init__(self, spec, backend=None, threads=None):
        self.spec = spec
        backend = backend or setting("PETSITE_INFERENCE_BACKEND", "auto")
        self.threads = threads or inference_threads(override=setting("PETSITE_INFERENCE_THREADS", 0))
        if backend not in BACKENDS:
            raise ValueError(f"Unknown inference backend {backend!r}; use one of {', '.join(BACKENDS)}.")
        # auto: the verified int8 copy when there is one, else the verified float copy, else the Keras model.
        int8 = usable_export(spec, "int8") if backend in ("auto", "litert-int8") else None
        if backend == "litert-int8" and int8 is None:
            raise FileNotFoundError(f"No verified int8 LiteRT export beside {spec.path}; run `manage.py export_litert --int8`.")
        export = int8 or (usable_export(spec) if backend in ("auto", "litert") else None)
        if backend == "litert" and export is None:
            raise FileNotFoundError(f"No verified LiteRT export beside {spec.path}; run `manage.py export_litert`.")
        if export is not None:
            self.backend = "litert-int8" if int8 else "litert"
            self._runner = LiteRTRunner(export, num_threads=self.threads)
            self._run = self._runner.run
        else:
            self.backend = "keras"
            self._run = self._keras_runner()
        self.warm_up()

    def _keras_runner(self):
        import tensorflow as tf

        from training.layers import load_model

        # TensorFlow's own TF_NUM_INTRAOP_THREADS wins; setting it only works before TF's first operation here.
        if not os.environ.get("TF_NUM_INTRAOP_THREADS"):
            with contextlib.suppress(RuntimeError):
                tf.config.threading.set_intra_op_parallelism_threads(self.threads)
        model = load_model(self.spec.path)
        self.model = model

        # One traced graph per batch shape; calling it avoids model.predict's per-call overhead.
        @tf.function(reduce_retracing=True)
        def call(batch):
            return model(batch, training=False)

        def run(batch, with_maps=False):
            probabilities, pet_scores, maps = keras_outputs(call(np.asarray(batch, dtype="float32")))
            return (probabilities, pet_scores, maps) if with_maps else (probabilities, pet_scores)

        return run

    def warm_up(self):
        size = self.spec.input_size
        probabilities, pet_scores, maps = self._run(np.zeros((1, size, size, 3), dtype="uint8"), with_maps=True)
        self.has_class_maps = maps is not None
        self.has_pet_score = pet_scores is not None  # else predict_arrays stands the top probability in for it
        if probabilities.shape[1] != len(self.spec.classes):
            # A card that does not describe its model must fail at load, not label photos wrongly.
            raise ValueError(
                f"Model {self.spec.version} outputs {probabilities.shape[1]} classes but its card lists {len(self.spec.classes)}."
            )

    def prepare(self, image):
        return image_to_array(image, self.spec.input_size)

    def predict_arrays(self, batch, with_maps=False):
        """probabilities (N, C) and pet scores (N,) for a uint8 batch of prepared images; with_maps: and the class
        maps (N, S', S', C) float32, None when the model has none."""
        outputs = self._run(batch, with_maps=True) if with_maps else self._run(batch)
        probabilities, pet_scores = outputs[:2]
        if pet_scores is None:
            pet_scores = probabilities.max(axis=1)
        return (probabilities, pet_scores, outputs[2]) if with_maps else (probabilities, pet_scores)

    def predict_images(self, images, with_maps=False):
        """(probabilities, pet scores, elapsed ms) for decoded images; with_maps: and their class maps (or None)."""
        started = time.perf_counter()
        batch = np.stack([self.prepare(image) for image in images])
        outputs = self.predict_arrays(batch, with_maps=with_maps)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        return (*outputs[:2], elapsed_ms, *outputs[2:])
