"""Run a saved Keras model on images.

Contract for every model this project saves: input (N, S, S, 3) float32 RGB in 0..255, the
preprocessing (scaling) inside the model; output either the class probabilities (N, C), or a
dict with "probabilities" (N, C) and "pet_score" (N, 1), the model's belief that the photo shows
one of the pets at all. Without a pet score the top probability stands in for it.
"""
import time

import numpy as np

from ingestion.images import image_to_array


class Predictor:
    def __init__(self, spec):
        import keras

        self.spec = spec
        self.model = keras.models.load_model(spec.path, compile=False)
        self._call = self._compile()
        self.warm_up()

    def _compile(self):
        import tensorflow as tf

        model = self.model

        # One traced graph per batch size; calling it avoids model.predict's per-call overhead.
        @tf.function(reduce_retracing=True)
        def call(batch):
            return model(batch, training=False)

        return call

    def warm_up(self):
        size = self.spec.input_size
        self.predict_arrays(np.zeros((1, size, size, 3), dtype="uint8"))

    def prepare(self, image):
        return image_to_array(image, self.spec.input_size)

    def predict_arrays(self, batch):
        """probabilities (N, C) and pet scores (N,) for a uint8 batch of prepared images."""
        outputs = self._call(np.asarray(batch, dtype="float32"))
        if isinstance(outputs, dict):
            probabilities = np.asarray(outputs["probabilities"], dtype="float64")
            pet_scores = np.asarray(outputs["pet_score"], dtype="float64").reshape(-1)
        else:
            probabilities = np.asarray(outputs, dtype="float64")
            pet_scores = probabilities.max(axis=1)
        return probabilities, pet_scores

    def predict_images(self, images):
        started = time.perf_counter()
        batch = np.stack([self.prepare(image) for image in images])
        probabilities, pet_scores = self.predict_arrays(batch)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        return probabilities, pet_scores, elapsed_ms
