"""Reads of the classifier app: views, the API and the admin ask these instead of querying models themselves."""
from ingestion.labels import UNKNOWN
from training.registry import NoModelAvailable, active_spec

from .models import Prediction

# The review states both the history page and the admin filter on ("" means either).
REVIEW_STATES = [("yes", "Reviewed"), ("no", "Not reviewed")]


def prediction_by_id(prediction_id):
    """The prediction with this id, or None."""
    return Prediction.objects.filter(pk=prediction_id).first()


def recent_predictions(limit=8):
    """The newest finished predictions, for the home page."""
    return Prediction.objects.filter(status=Prediction.Status.DONE)[:limit]


def filter_predictions(predictions=None, *, label="", reviewed=""):
    """`predictions` (default: all, newest first) of predicted `label` and review state "yes" / "no"; "" keeps all."""
    predictions = Prediction.objects.all() if predictions is None else predictions
    if label:
        predictions = predictions.filter(label=label)
    if reviewed == "yes":
        predictions = predictions.exclude(true_label="")
    elif reviewed == "no":
        predictions = predictions.filter(true_label="")
    return predictions


def live_model_status():
    """{"available": True, "version": name} for the model uploads are classified with, else the reason there is none."""
    try:
        return {"available": True, "version": active_spec().version}
    except NoModelAvailable as exc:
        return {"available": False, "message": str(exc)}


def reviewed_photos_for_dataset():
    """(image path, corrected label) of every reviewed pet photo.

    Declared in settings.PETSITE_DATASET_EXTRA_SOURCES: how reviewed predictions reach rebuild_dataset
    (ingestion never imports the classifier). Photos reviewed as "not a pet" are left out.
    """
    rows = Prediction.objects.exclude(true_label="").exclude(true_label=UNKNOWN).order_by("pk")
    examples = []
    for prediction in rows:
        try:
            examples.append((prediction.image.path, prediction.true_label))
        except NotImplementedError:  # remote storage: no local path
            continue
    return examples
