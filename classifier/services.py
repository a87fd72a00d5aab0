"""Business logic of the site; views, the API, admin actions, tasks and commands call these."""
import contextlib
import io
import logging
import os
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import close_old_connections, transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from PIL import Image

from ingestion.images import ImageError, open_image
from ingestion.labels import CLASSES, UNKNOWN, display_name
from petsite.jobs import dispatch, dispatch_on_commit, queued_classifications

from . import selectors
from .heatmap import heatmap_png
from .inference import NoModelAvailable, classify_image
from .models import Prediction
from .uploads import UploadError, validate_upload

logger = logging.getLogger(__name__)
THUMBNAIL_SIZE = (320, 320)
DISPLAY_SIDE = 1024  # long side of the copy the result page shows
MAX_ATTEMPTS = 5


def _thumbnail_bytes(image, size=THUMBNAIL_SIZE, quality=85):
    thumb = image.copy()
    thumb.thumbnail(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumb.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _display_bytes(image):
    """A JPEG of `image` with its long side at most DISPLAY_SIDE: what the result page shows instead of the original."""
    return _thumbnail_bytes(image, size=(DISPLAY_SIDE, DISPLAY_SIDE), quality=85)


STORAGE_FULL = "The server could not store your photo (its storage is full or unavailable); nothing was kept. Please try again later."


def submit_upload(uploaded_file, uploader=""):
    """Validate, store and enqueue an upload; return the pending Prediction. Raises UploadError.
    `uploader`: what identifies its uploader (classifier.ownership.uploader_of), stored with it.

    The request does only what answering needs: one validation decode (uploads.validate_upload), the original
    stored, one INSERT (autocommit), one broker message. Copies (display, thumbnail) are the worker's job, made from
    the one full decode it classifies (_classify_claimed); until then its page shows the original to its uploader and
    staff, a placeholder to others.
    """
    upload = validate_upload(uploaded_file)
    prediction = Prediction(image_format=upload.format)
    field = Prediction._meta.get_field("image")
    # Stored under a server-made name, then given to the row with its size, so Django never re-reads the file for it.
    name = field.storage.get_available_name(field.generate_filename(prediction, "upload"))
    try:
        name = field.storage.save(name, ContentFile(upload.data, name="upload"))
    except OSError as exc:  # a full (or read-only) disk: nothing half-written stays, and the sender is told
        logger.exception("upload not stored")
        with contextlib.suppress(Exception):
            field.storage.delete(name)
        raise UploadError(STORAGE_FULL, status=503) from exc
    prediction = Prediction(
        image=name, width=upload.width, height=upload.height, image_format=upload.format,
        original_filename=upload.filename, content_hash=upload.sha256, enqueued_at=timezone.now(), uploader=uploader,
    )
    try:
        # Committed at once (autocommit: one round trip); enqueue_classification then sends at once (on_commit outside
        # a transaction), or when the caller's transaction commits. A lost message is re-sent by the sweeper.
        prediction.save(force_insert=True)
    except Exception:
        field.storage.delete(name)
        raise
    enqueue_classification(prediction.pk)
    return prediction


def _copy_name(extension="jpg"):
    """A stored copy's file name: random (like the originals' upload_path), so no copy's address can be guessed."""
    return f"{uuid.uuid4().hex}.{extension}"


def _store_copies(prediction, image):
    """Make and store the display copy and the thumbnail of the decoded photo `image` (the worker's one decode) on
    `prediction` (not saved); returns {field: name} of the copies made ({} when it has both already, e.g. a retried
    one). Never raises: without copies its uploader and staff see the original, others a placeholder."""
    made = {}
    try:
        if not prediction.display_image:
            data, size = _display_copy(image)
            _save_copy(prediction, "display_image", data)._dimensions_cache = size  # known: nobody reads the file back
            made["display_image"] = prediction.display_image.name
        if not prediction.thumbnail:
            _save_copy(prediction, "thumbnail", _thumbnail_bytes(image))
            made["thumbnail"] = prediction.thumbnail.name
    except Exception:
        logger.exception("prediction %s: no display copy or thumbnail (pages fall back)", prediction.pk)
    return made


def _save_copy(prediction, field_name, data):
    """Store `data` as the copy `field_name` of `prediction` (the row is not saved) and return its field file; a write
    that fails (a full disk) leaves no half-written file behind."""
    field = Prediction._meta.get_field(field_name)
    name = field.storage.get_available_name(field.generate_filename(prediction, _copy_name()))
    try:
        name = field.storage.save(name, ContentFile(data))
    except Exception:
        with contextlib.suppress(Exception):
            field.storage.delete(name)
        raise
    setattr(prediction, field_name, name)
    return getattr(prediction, field_name)


def _display_copy(image):
    """(JPEG bytes, (width, height)) of `image` with its long side at most DISPLAY_SIDE."""
    copy = image.copy()
    copy.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    copy.convert("RGB").save(buffer, format="JPEG", quality=85)
    return buffer.getvalue(), copy.size


WRITE_RETRY_SECONDS = 300  # how long a display copy that could not be written is not tried again


def ensure_display_copy(prediction):
    """Give a done prediction stored before display copies existed its display copy (made once, then stored).

    Returns the prediction; if the original cannot be read it is left without one (the page falls back to the
    thumbnail), and that is remembered (in the cache) so page views do not decode it again. A pending one gets its
    copies from the worker; a failed one is never decoded here (it may be a huge or broken file).
    """
    if prediction.display_image or not prediction.image or prediction.status != Prediction.Status.DONE:
        return prediction
    failed_key = f"no-display-copy:{prediction.pk}:{prediction.image.name}"
    with contextlib.suppress(Exception):  # the cache down: try, as before
        if cache.get(failed_key):
            return prediction
    try:
        with prediction.image.open("rb") as handle:
            image = open_image(handle.read())
    except (ImageError, OSError):
        logger.warning("prediction %s: no display copy (original unreadable)", prediction.pk)
        with contextlib.suppress(Exception):
            cache.set(failed_key, True, timeout=None)
        return prediction
    try:
        _save_copy(prediction, "display_image", _display_bytes(image))
    except OSError:  # a full disk: the page shows the thumbnail; try again after a while, not on every view
        logger.warning("prediction %s: no display copy (could not write it)", prediction.pk, exc_info=True)
        prediction.display_image = ""
        with contextlib.suppress(Exception):
            cache.set(failed_key, True, timeout=WRITE_RETRY_SECONDS)
        return prediction
    if not Prediction.objects.filter(pk=prediction.pk, display_image="").update(display_image=prediction.display_image.name):
        # Another request made one meanwhile (or the row is gone): keep theirs, drop ours.
        prediction.display_image.delete(save=False)
        prediction.refresh_from_db(fields=["display_image"])
    return prediction


def retry_prediction(prediction_id):
    """Send a failed prediction to be classified again (a person pressed "Try again"); returns it, or None.

    Only a failed row is taken (a conditional update), so pressing twice sends it once.
    """
    taken = Prediction.objects.filter(pk=prediction_id, status=Prediction.Status.FAILED).update(
        status=Prediction.Status.PENDING, error="", attempts=0, completed_at=None, claimed_at=None, claimed_by="",
        enqueued_at=timezone.now(),
    )
    if taken:
        enqueue_classification(prediction_id)
    return Prediction.objects.filter(pk=prediction_id).first()


def enqueue_classification(prediction_id):
    """Enqueue classification once the row is committed (at-least-once; the task is idempotent)."""
    from .tasks import classify_prediction_task

    dispatch_on_commit(classify_prediction_task, prediction_id)


def _claim_stale_seconds():
    return settings.PETSITE_PENDING_SWEEP_SECONDS


def _claim(prediction_id, claimant):
    """Take the row for this delivery; False when another live delivery holds it (its claim is renewed).

    A claim nobody renewed for PETSITE_PENDING_SWEEP_SECONDS belongs to a dead worker and can be taken over;
    the same delivery (a retry keeps its task id) takes its own claim back.
    """
    now = timezone.now()
    free = Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - timedelta(seconds=_claim_stale_seconds())) | Q(claimed_by=claimant)
    # The attempt is counted with the claim, before the risky work, so a photo that kills the worker is not retried forever.
    return bool(Prediction.objects.filter(free, pk=prediction_id, status=Prediction.Status.PENDING).update(
        claimed_at=now, claimed_by=claimant, attempts=F("attempts") + 1
    ))


class _ClaimHeartbeat:
    """One daemon thread per process renews the claims of the rows this process is classifying.

    The sweeper re-enqueues a pending row whose claim went unrenewed, so a worker killed mid-task is noticed
    within seconds, while a slow classification (a model loading) is left alone.
    """

    TICK = 0.5

    def __init__(self):
        self._lock = threading.Lock()
        self._rows = {}  # prediction id -> [claimant, when last renewed (monotonic)]
        self._thread = None
        self._pid = None

    @contextlib.contextmanager
    def holding(self, prediction_id, claimant):
        with self._lock:
            self._rows[prediction_id] = [claimant, time.monotonic()]
            # A forked pool process inherits the object but not the thread: start its own.
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._beat, name="petsite-claim-heartbeat", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._rows.pop(prediction_id, None)

    def _beat(self):
        while True:
            time.sleep(self.TICK)
            # Four renewals per claim lifetime: a few missed beats (a busy CPU) never look like a death.
            due = time.monotonic() - _claim_stale_seconds() / 4
            with self._lock:
                rows = {pk: row[0] for pk, row in self._rows.items() if row[1] <= due}
            if not rows:
                continue
            try:
                for prediction_id, claimant in rows.items():
                    Prediction.objects.filter(pk=prediction_id, claimed_by=claimant, status=Prediction.Status.PENDING).update(
                        claimed_at=timezone.now()
                    )
                    with self._lock:
                        if prediction_id in self._rows:
                            self._rows[prediction_id][1] = time.monotonic()
            except Exception as exc:  # database away for a moment: the next tick tries again
                logger.warning("could not renew classification claims (%s: %s)", type(exc).__name__, exc)
            finally:
                close_old_connections()


_heartbeat = _ClaimHeartbeat()


def classify_prediction(prediction_id, claimant=None):
    """Classify a stored upload and record `done` or `failed`. Running it twice is harmless: a delivery
    classifies a row only if it claims it (no other live delivery is on it), and only a pending row is written.

    `claimant` names the delivery (the Celery task id, the same for its retries); None: a new one.
    """
    claimant = claimant or uuid.uuid4().hex
    # Claim first, then read the claimed row (its attempts counted): two queries, a third writes the outcome.
    claimed = _claim(prediction_id, claimant)
    prediction = Prediction.objects.filter(pk=prediction_id).first()
    if prediction is None:
        logger.warning("prediction %s no longer exists", prediction_id)
        return None
    if not claimed:
        if prediction.status == Prediction.Status.PENDING:
            logger.info("prediction %s is being classified by another delivery; this one stops", prediction_id)
        return prediction  # finished by an earlier delivery, or another live one holds it
    if prediction.attempts > MAX_ATTEMPTS:
        # Earlier deliveries never finished (the worker died or timed out on this photo): stop retrying.
        tried = prediction.attempts - 1  # this delivery tries nothing
        return _store_outcome_if_pending(prediction, {
            "status": Prediction.Status.FAILED, "attempts": tried, "error": f"Gave up after {tried} attempts to classify this photo.",
        })
    with _heartbeat.holding(prediction_id, claimant):
        try:
            return _classify_claimed(prediction, prediction.attempts)
        except BaseException:
            # No result written: the next delivery (a retry, or the sweeper's) may take the row at once.
            with contextlib.suppress(Exception):
                Prediction.objects.filter(pk=prediction_id, claimed_by=claimant, status=Prediction.Status.PENDING).update(
                    claimed_at=None, claimed_by=""
                )
            raise


class _StoredPhotoUnreadable(Exception):
    """The uploaded original could not be read back from storage."""


def _classify_claimed(prediction, attempts):
    prediction_id = prediction.pk
    updates = {}
    heatmap = ""
    copies = {}
    try:
        try:
            with prediction.image.open("rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise _StoredPhotoUnreadable from exc
        image = open_image(data)  # the one full decode: copies, model input (and heat map) all use it
        copies = _store_copies(prediction, image)
        updates.update(copies)
        result = classify_image(image)  # its OSErrors (a model file gone) are the server's, retried below
    except ImageError as exc:
        updates.update(status=Prediction.Status.FAILED, error=str(exc))
    except NoModelAvailable as exc:
        logger.error("prediction %s: %s", prediction_id, exc)
        updates.update(status=Prediction.Status.FAILED, error="No model is available to classify photos yet; an administrator must train or install one.")
    except _StoredPhotoUnreadable:
        # Paths and system details stay in the log, not on the public page.
        logger.exception("prediction %s: stored photo unreadable", prediction_id)
        updates.update(status=Prediction.Status.FAILED, error="The stored photo could not be read.")
    except Exception:
        if attempts < MAX_ATTEMPTS:
            for field_name, name in copies.items():  # the retry makes its own
                with contextlib.suppress(Exception):
                    Prediction._meta.get_field(field_name).storage.delete(name)
            raise  # possibly transient: the delivery is retried (sweeper or redelivery)
        logger.exception("prediction %s failed after %s attempts", prediction_id, attempts)
        updates.update(status=Prediction.Status.FAILED, error="Classification failed after several attempts.")
    else:
        heatmap = _store_heatmap(prediction, image, result)
        updates.update(
            status=Prediction.Status.DONE,
            label=result.label,
            confidence=result.confidence,
            probabilities=result.probabilities,
            pet_score=result.pet_score,
            model_version=result.model_version,
            inference_ms=result.inference_ms,
            heatmap=heatmap,
            error="",
        )
    stored = _store_outcome_if_pending(prediction, updates)
    # Another delivery finished the row first, or it was deleted meanwhile: the files this one made are nobody's.
    for field_name, name in [*copies.items(), *([("heatmap", heatmap)] if heatmap else [])]:
        if stored is None or getattr(stored, field_name).name != name:
            Prediction._meta.get_field(field_name).storage.delete(name)
    return stored


def _shows_heatmap(result):
    """Whether the result page would offer a heat map for `result`: not for a "not a pet" answer whose closest pet is
    under 1% (selectors.heatmap_caption, the page's rule), so no file is written that nobody can see."""
    answered = selectors.unsaved_answer(result)
    return bool(selectors.heatmap_caption(answered, selectors.answer_figure_and_bars(answered)[1]))


def _store_heatmap(prediction, image, result):
    """Store where the model looked for `result` (classifier.heatmap) as the prediction's overlay; returns its file
    name, "" when the model has no class maps or the page would show none. Never raises: a photo without its heat
    map is still answered."""
    if result.class_map is None or not _shows_heatmap(result):
        return ""
    try:
        started = time.perf_counter()
        display = prediction.display_image
        display_size = (display.width, display.height) if display else image.size
        png = heatmap_png(result.class_map, image.size, display_size)
        name = Prediction._meta.get_field("heatmap").storage.save(f"heatmaps/{_copy_name('png')}", ContentFile(png))
        logger.debug("prediction %s: heat map in %.1f ms", prediction.pk, (time.perf_counter() - started) * 1000)
        return name
    except Exception:
        logger.exception("prediction %s: no heat map (the answer is stored without one)", prediction.pk)
        return ""


def _store_outcome_if_pending(prediction, updates):
    """Write a classification's outcome (done or failed) unless another delivery already finished the row; returns
    the row as stored, None when it was deleted meanwhile."""
    updates["completed_at"] = timezone.now()
    # Only a still-pending row is written, so a duplicate delivery cannot overwrite a finished one.
    written = Prediction.objects.filter(pk=prediction.pk, status=Prediction.Status.PENDING).update(**updates)
    if not written:
        return Prediction.objects.filter(pk=prediction.pk).first()
    for name, value in updates.items():
        setattr(prediction, name, value)
    return prediction


# Messages sent within this of each other may reach the queue in either order (several web processes).
OVERTAKEN_MARGIN = timedelta(seconds=5)


def lost_pending_filter(older_than_seconds=None, queued=None, now=None):
    """The pending rows whose classification is lost, as a Q; None when there are none.

    - Claimed, the claim not renewed for `older_than_seconds`: the worker died mid-task.
    - Never claimed since sent that long ago, and not waiting in the queue: nothing is queued, or a row sent later
      was already claimed (the queue is first in, first out). The message was lost (broker outage) or died
      unacknowledged in a dead worker's prefetch (Redis would only give it back after the visibility timeout).
    A row waiting in a healthy backlog matches neither. `queued`: classifications queued (None: unknown, taken as 0,
    since a duplicate is harmless and a lost upload is not).
    """
    now = now or timezone.now()
    age = settings.PETSITE_PENDING_SWEEP_SECONDS if older_than_seconds is None else older_than_seconds
    cutoff = now - timedelta(seconds=age)
    abandoned = Q(claimed_at__lt=cutoff)
    unclaimed = Q(claimed_at__isnull=True) & (Q(enqueued_at__lt=cutoff) | Q(enqueued_at__isnull=True, created_at__lt=cutoff))
    if queued:
        # A backlog: only rows the consumers have gone past are lost. Renewed claims keep claimed_at recent.
        newest = Prediction.objects.filter(claimed_at__gte=cutoff).aggregate(newest=Max("enqueued_at"))["newest"]
        unclaimed = (unclaimed & Q(enqueued_at__lt=newest - OVERTAKEN_MARGIN)) if newest else None
    lost = abandoned | unclaimed if unclaimed is not None else abandoned
    return Q(status=Prediction.Status.PENDING) & lost


def requeue_stale_pending(older_than_seconds=None):
    """Re-enqueue the pending predictions whose classification was lost (see lost_pending_filter); returns their ids.

    Each row is taken by a conditional update (concurrent sweepers never send one twice), marked sent now and
    unclaimed, so it then waits in the queue like any other upload.
    """
    from .tasks import classify_prediction_task

    lost = lost_pending_filter(older_than_seconds, queued=queued_classifications())
    requeued = []
    for prediction_id in Prediction.objects.filter(lost).order_by("pk").values_list("pk", flat=True)[:1000]:
        taken = Prediction.objects.filter(lost, pk=prediction_id).update(enqueued_at=timezone.now(), claimed_at=None, claimed_by="")
        if taken:
            dispatch(classify_prediction_task, prediction_id)
            requeued.append(prediction_id)
    return requeued


@dataclass(frozen=True)
class ConfirmResult:
    """What a bulk confirm did: `confirmed` got their predicted label; the others were left as they were."""

    confirmed: int
    kept_reviewed: int  # a person had already labelled them: never overwritten
    unfinished: int  # pending or failed: no predicted label to confirm


def _lock_for_review(predictions):
    """{pk: (status, label, true_label)} of the selected predictions, locked until the transaction ends.

    Locked by primary key: the admin's changelist queryset may be DISTINCT, which PostgreSQL refuses to lock.
    """
    ids = list(predictions.values_list("pk", flat=True))
    rows = Prediction.objects.select_for_update().filter(pk__in=ids).values_list("pk", "status", "label", "true_label")
    return {pk: (status, label, true_label) for pk, status, label, true_label in rows}


def _was(true_label):
    return display_name(true_label) if true_label else "not reviewed"


def _log_review_changes(user, messages):
    """One admin history entry (LogEntry: who, when, what) per changed prediction; `messages` maps pk -> text."""
    pks_by_message = defaultdict(list)
    for pk, message in messages.items():
        pks_by_message[message].append(pk)
    for message, pks in pks_by_message.items():
        LogEntry.objects.log_actions(
            user_id=user.pk, queryset=Prediction.objects.filter(pk__in=pks), action_flag=CHANGE, change_message=message
        )


def _set_review(pks, true_label, reviewer):
    reviewed_at = timezone.now() if reviewer else None
    Prediction.objects.filter(pk__in=pks).update(true_label=true_label, reviewed_by=reviewer, reviewed_at=reviewed_at)


def relabel(predictions, label, user):
    """Record `label` as the reviewed true label of each prediction (and in the admin history); returns how many."""
    if label not in (*CLASSES, UNKNOWN):
        raise ValueError(f"Unknown label {label!r}")
    with transaction.atomic():
        rows = _lock_for_review(predictions)
        _set_review(rows, label, user)
        _log_review_changes(user, {
            pk: f"Relabelled as {display_name(label)} (was {_was(true_label)})." for pk, (_, _, true_label) in rows.items()
        })
    return len(rows)


def mark_correct(predictions, user):
    """Confirm the predicted label of each finished prediction that no person has labelled yet -> ConfirmResult.

    A label a reviewer gave is never overwritten by the model's: those predictions are skipped and counted.
    """
    with transaction.atomic():
        rows = _lock_for_review(predictions)
        finished = {pk: row for pk, row in rows.items() if row[0] == Prediction.Status.DONE and row[1]}
        to_confirm = {pk: label for pk, (_, label, true_label) in finished.items() if not true_label}
        Prediction.objects.filter(pk__in=to_confirm).update(true_label=F("label"), reviewed_by=user, reviewed_at=timezone.now())
        _log_review_changes(user, {pk: f"Confirmed the predicted label {display_name(label)}." for pk, label in to_confirm.items()})
    return ConfirmResult(
        confirmed=len(to_confirm), kept_reviewed=len(finished) - len(to_confirm), unfinished=len(rows) - len(finished)
    )


def clear_review(predictions, user):
    """Forget the review of each reviewed prediction (the change is kept in the admin history); returns how many."""
    with transaction.atomic():
        reviewed = {pk: true_label for pk, (_, _, true_label) in _lock_for_review(predictions).items() if true_label}
        _set_review(reviewed, "", None)
        _log_review_changes(user, {pk: f"Cleared the review (was {_was(true_label)})." for pk, true_label in reviewed.items()})
    return len(reviewed)


def delete_predictions(predictions):
    """Delete predictions and, once that is committed, their photo files (no orphan stays downloadable)."""
    names = [(p.image.name, p.thumbnail.name, p.display_image.name, p.heatmap.name) for p in predictions]
    storage = Prediction._meta.get_field("image").storage
    with transaction.atomic():
        count, _ = predictions.delete()

        def remove_files():
            for files in names:
                for name in files:
                    if name:
                        storage.delete(name)

        transaction.on_commit(remove_files)
    return count


def create_admin_user_if_none(username, password):
    """Create a superuser for a fresh install unless one exists; returns whether it created one."""
    users = get_user_model().objects
    if users.filter(is_superuser=True).exists():
        return False
    users.create_superuser(username=username, email="", password=password)
    return True


# Review queue decisions (staff) -------------------------------------------------------------------------------------

REVIEW_DECISIONS = (*CLASSES, UNKNOWN, "confirm")


def review_decision(prediction_id, decision, user):
    """One review-queue decision on one prediction, through the relabel services (reviewer, time, admin history):
    a label (a class or "unknown") or "confirm" (the model's answer). Returns the true label it had before ("": none),
    what undo_review_decision needs."""
    if decision not in REVIEW_DECISIONS:
        raise ValueError(f"Unknown decision {decision!r}")
    selected = Prediction.objects.filter(pk=prediction_id)
    with transaction.atomic():  # the row read under the lock the change holds: the earlier label is the one replaced
        row = _lock_for_review(selected).get(prediction_id)
        if row is None:
            raise ValueError(f"There is no prediction {prediction_id}.")
        status, label, true_label = row
        if decision == "confirm":
            if status != Prediction.Status.DONE or not label:
                raise ValueError("This prediction has no answer to confirm.")
            if true_label:
                relabel(selected, label, user)  # a person re-confirms: the model's answer replaces theirs
            else:
                mark_correct(selected, user)
        else:
            relabel(selected, decision, user)
    return true_label


def undo_review_decision(prediction_id, earlier_label, user, decision=None):
    """Put a prediction's review back to `earlier_label` ("": not reviewed), written to the admin history like any
    review change, only if its label is still the one `decision` set (a label, or "confirm": the model's answer);
    someone's later label is never overwritten. Returns whether it was undone (None `decision`: no check)."""
    selected = Prediction.objects.filter(pk=prediction_id)
    with transaction.atomic():
        row = _lock_for_review(selected).get(prediction_id)
        if row is None:
            return False
        _, label, true_label = row
        if decision is not None and true_label != (label if decision == "confirm" else decision):
            return False
        if earlier_label:
            relabel(selected, earlier_label, user)
        else:
            clear_review(selected, user)
    return True
