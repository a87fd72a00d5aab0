"""Business logic of the site; views, the API, admin actions, tasks and commands call these."""
import io
import logging
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from PIL import Image

from ingestion.images import ImageError, open_image
from ingestion.labels import CLASSES, UNKNOWN
from petsite.jobs import dispatch, dispatch_on_commit

from .inference import NoModelAvailable, classify_image
from .models import Prediction
from .uploads import validate_upload

logger = logging.getLogger(__name__)
THUMBNAIL_SIZE = (320, 320)
MAX_ATTEMPTS = 5


def _thumbnail_bytes(image):
    thumb = image.copy()
    thumb.thumbnail(THUMBNAIL_SIZE, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def submit_upload(uploaded_file):
    """Validate, store and enqueue an upload; return the pending Prediction. Raises UploadError."""
    upload = validate_upload(uploaded_file)
    prediction = Prediction(
        image_format=upload.format, original_filename=upload.filename, content_hash=upload.sha256, enqueued_at=timezone.now()
    )
    # Files first, then the row; if the row cannot be written the files are removed again.
    # A named ContentFile: Django only fills width/height from a file that has a name; without them every
    # later load of the row re-opens the image from disk (and fails if the file is gone).
    prediction.image.save("upload", ContentFile(upload.data, name="upload"), save=False)
    prediction.thumbnail.save("thumb.jpg", ContentFile(_thumbnail_bytes(upload.image)), save=False)
    try:
        with transaction.atomic():
            prediction.save()
            enqueue_classification(prediction.pk)
    except Exception:
        prediction.image.delete(save=False)
        prediction.thumbnail.delete(save=False)
        raise
    return prediction


def enqueue_classification(prediction_id):
    """Enqueue classification once the row is committed (at-least-once; the task is idempotent)."""
    from .tasks import classify_prediction_task

    dispatch_on_commit(classify_prediction_task, prediction_id)


def classify_prediction(prediction_id):
    """Classify a stored upload and record `done` or `failed`. Running it twice is harmless."""
    prediction = Prediction.objects.filter(pk=prediction_id).first()
    if prediction is None:
        logger.warning("prediction %s no longer exists", prediction_id)
        return None
    if prediction.status != Prediction.Status.PENDING:
        return prediction  # already finished by an earlier delivery
    attempts = prediction.attempts + 1
    updates = {}
    if prediction.attempts >= MAX_ATTEMPTS:
        # Earlier deliveries never finished (the worker died or timed out on this photo): stop retrying.
        updates.update(status=Prediction.Status.FAILED, error=f"Gave up after {prediction.attempts} attempts to classify this photo.")
        return _finish(prediction, updates)
    # Counted before the risky work, so a photo that kills the worker is not retried forever.
    Prediction.objects.filter(pk=prediction_id).update(attempts=F("attempts") + 1)
    prediction.attempts = attempts
    try:
        with prediction.image.open("rb") as handle:
            image = open_image(handle.read())
        result = classify_image(image)
    except ImageError as exc:
        updates.update(status=Prediction.Status.FAILED, error=str(exc))
    except NoModelAvailable as exc:
        logger.error("prediction %s: %s", prediction_id, exc)
        updates.update(status=Prediction.Status.FAILED, error="No model is available to classify photos yet; an administrator must train or install one.")
    except OSError:
        # Paths and system details stay in the log, not on the public page.
        logger.exception("prediction %s: stored photo unreadable", prediction_id)
        updates.update(status=Prediction.Status.FAILED, error="The stored photo could not be read.")
    except Exception as exc:
        if attempts < MAX_ATTEMPTS:
            raise  # possibly transient: the delivery is retried (sweeper or redelivery)
        logger.exception("prediction %s failed after %s attempts", prediction_id, attempts)
        updates.update(status=Prediction.Status.FAILED, error="Classification failed after several attempts.")
    else:
        updates.update(
            status=Prediction.Status.DONE,
            label=result.label,
            confidence=result.confidence,
            probabilities=result.probabilities,
            pet_score=result.pet_score,
            model_version=result.model_version,
            inference_ms=result.inference_ms,
            error="",
        )
    return _finish(prediction, updates)


def _finish(prediction, updates):
    updates["completed_at"] = timezone.now()
    # Only a still-pending row is written, so a duplicate delivery cannot overwrite a finished one.
    written = Prediction.objects.filter(pk=prediction.pk, status=Prediction.Status.PENDING).update(**updates)
    if not written:
        return Prediction.objects.get(pk=prediction.pk)
    for name, value in updates.items():
        setattr(prediction, name, value)
    return prediction


def requeue_stale_pending(older_than_seconds=None):
    """Re-enqueue predictions left pending too long (lost message, dead worker, broker outage)."""
    from .tasks import classify_prediction_task

    age = settings.PETSITE_PENDING_SWEEP_SECONDS if older_than_seconds is None else older_than_seconds
    cutoff = timezone.now() - timedelta(seconds=age)
    # Stale means "not enqueued for a while", so a row still waiting in a long queue is not sent again
    # on every pass; the conditional update lets only one sweeper claim each row.
    not_recently_enqueued = Q(enqueued_at__lt=cutoff) | Q(enqueued_at__isnull=True, created_at__lt=cutoff)
    candidates = Prediction.objects.filter(not_recently_enqueued, status=Prediction.Status.PENDING)
    stale = []
    for prediction_id in candidates.order_by("pk").values_list("pk", flat=True)[:1000]:
        claimed = Prediction.objects.filter(not_recently_enqueued, pk=prediction_id, status=Prediction.Status.PENDING).update(
            enqueued_at=timezone.now()
        )
        if claimed:
            dispatch(classify_prediction_task, prediction_id)
            stale.append(prediction_id)
    return stale


def relabel(predictions, label, user):
    """Record `label` as the reviewed true label of each prediction; returns how many changed."""
    if label not in (*CLASSES, UNKNOWN):
        raise ValueError(f"Unknown label {label!r}")
    return predictions.update(true_label=label, reviewed_by=user, reviewed_at=timezone.now())


def mark_correct(predictions, user):
    """Confirm the predicted label of each finished prediction as its true label."""
    now = timezone.now()
    count = 0
    with transaction.atomic():
        for prediction in predictions.filter(status=Prediction.Status.DONE).exclude(label=""):
            prediction.true_label = prediction.label
            prediction.reviewed_by = user
            prediction.reviewed_at = now
            prediction.save(update_fields=["true_label", "reviewed_by", "reviewed_at"])
            count += 1
    return count


def reviewed_examples():
    """(image path, corrected label) for every reviewed pet photo: what the classifier hands down to ingestion."""
    rows = Prediction.objects.exclude(true_label="").exclude(true_label=UNKNOWN).order_by("pk")
    examples = []
    for prediction in rows:
        try:
            examples.append((prediction.image.path, prediction.true_label))
        except NotImplementedError:  # remote storage: no local path
            continue
    return examples


def delete_predictions(predictions):
    """Delete predictions and, once that is committed, their photo files (no orphan stays downloadable)."""
    names = [(p.image.name, p.thumbnail.name) for p in predictions]
    storage = Prediction._meta.get_field("image").storage
    with transaction.atomic():
        count, _ = predictions.delete()

        def remove_files():
            for image, thumbnail in names:
                for name in (image, thumbnail):
                    if name:
                        storage.delete(name)

        transaction.on_commit(remove_files)
    return count
