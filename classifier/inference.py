"""Classifying photos for the site: classify_image() for the Celery task, the API, the CLI and any other caller.

This module chooses the model (the live version, training.registry.active_spec), keeps it loaded once per process
(reloaded only when the active version changes), and maps its scores to an answer: a class label, or `unknown`
below the version's threshold. Running the saved model itself is training.predictor's job.
"""
import logging
import os
import threading
from dataclasses import dataclass, field

from django.conf import settings

from ingestion.images import open_image
from ingestion.labels import UNKNOWN
from training.registry import NoModelAvailable, active_spec

from .selectors import answer_sureness, unsaved_answer

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_predictor = None
# How many inferences run side by side on this host's cores (the worker pool's processes); entry points set it.
_concurrency = 1

__all__ = [
    "InferenceResult", "NoModelAvailable", "classify_image", "classify_images", "get_predictor", "score_photo",
    "set_inference_concurrency",
]


@dataclass
class InferenceResult:
    label: str
    confidence: float
    probabilities: dict = field(default_factory=dict)
    pet_score: float | None = 0.0  # None: the model has no pet-score output (its top share stood in for the threshold)
    model_version: str = ""
    inference_ms: float = 0.0
    # Where in the model's (fitted and padded) square it found its answer: the class map (S' x S') of the best pet
    # class (for "not a pet" the closest pet); None when the model has no class maps.
    class_map: object = field(default=None, repr=False, compare=False)

    def as_dict(self):
        return {
            "label": self.label,
            "confidence": round(self.confidence, 6),
            "probabilities": {k: round(v, 6) for k, v in self.probabilities.items()},
            "model_version": self.model_version,
        }


def set_inference_concurrency(concurrency):
    """Tell this process how many inferences run at once beside it (itself included), before its model loads:
    a prefork Celery worker's concurrency, or the number of web processes classifying without a broker."""
    global _concurrency
    _concurrency = max(1, int(concurrency))


def inference_threads():
    """Threads each inference of this process uses: PETSITE_INFERENCE_THREADS, or the cores / concurrency."""
    from training.predictor import inference_threads as size

    return size(concurrency=_concurrency, override=settings.PETSITE_INFERENCE_THREADS)


def get_predictor(use_database=True):
    """The predictor for the active model, loading or reloading it when the active version changed."""
    global _predictor
    spec = active_spec(use_database=use_database)
    with _lock:
        if _predictor is None or _predictor.spec != spec:
            from training.predictor import Predictor

            _predictor = Predictor(spec, threads=inference_threads())
            logger.info("model %s loaded (%s) in pid %d: %d inference thread(s), %d at once on this host",
                        spec.version, _predictor.backend, os.getpid(), _predictor.threads, _concurrency)
        return _predictor


def _result(predictor, probabilities, pet_score, elapsed_ms, class_maps=None):
    classes = predictor.spec.classes
    best = int(probabilities.argmax())
    confidence = float(probabilities[best])
    threshold = predictor.spec.unknown_threshold
    label = classes[best]
    if threshold is not None and pet_score < threshold:
        # The answer is "not a pet": its confidence is the model's belief in that, not the best pet class.
        label = UNKNOWN
        confidence = 1.0 - float(pet_score)
    return InferenceResult(
        label=label,
        confidence=confidence,
        probabilities={name: float(p) for name, p in zip(classes, probabilities)},
        # A model without a pet-score output (the top share stood in for it above) has no pet score to store: the
        # result page then shows the plain shares, not share x share.
        pet_score=float(pet_score) if getattr(predictor, "has_pet_score", True) else None,
        model_version=predictor.spec.version,
        inference_ms=elapsed_ms,
        class_map=None if class_maps is None else class_maps[..., best],
    )


def classify_images(images, use_database=True):
    """Classify decoded images (PIL) or image sources (path, bytes, file) in one batch.

    Each result carries its class map when the model has them (a few hundred numbers, computed with the answer)."""
    predictor = get_predictor(use_database=use_database)
    decoded = [image if hasattr(image, "mode") else open_image(image) for image in images]
    probabilities, pet_scores, elapsed_ms, maps = predictor.predict_images(decoded, with_maps=True)
    if maps is None:
        maps = [None] * len(decoded)
    per_image_ms = elapsed_ms / max(len(decoded), 1)
    return [_result(predictor, p, s, per_image_ms, m) for p, s, m in zip(probabilities, pet_scores, maps)]


def classify_image(image, use_database=True):
    """Classify one image (PIL image, path, bytes or file object) -> InferenceResult."""
    return classify_images([image], use_database=use_database)[0]


def score_photo(image):
    """The live model's answer for a scraped photo (bytes, path or PIL image), as ingestion stores it.

    Named in settings.PETSITE_SCRAPED_PHOTO_SCORER: ingestion calls it by name (it never imports the classifier).
    """
    result = classify_image(image)
    # "confidence" is how sure the model is overall, as the pages say it (a pet's share x the pet score), not the share
    # among the six pets: a job's auto-accept threshold compares against it.
    return {"label": result.label, "confidence": answer_sureness(unsaved_answer(result)), "pet_score": result.pet_score,
            "model_version": result.model_version}
