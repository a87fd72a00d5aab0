"""Reads of the ingestion app: the admin and the services ask these instead of querying models themselves."""
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from .hashing import NearDuplicateIndex, default_distance
from .labels import UNKNOWN, display_name
from .models import DatasetVersion, PhotoSplit, ScrapedPhoto, ScrapeJob


def filter_given(queryset, **lookups):
    """`queryset` filtered by each lookup whose value is given (not empty, None or 0): the optional filters of a list
    page or queue (also used by classifier.selectors)."""
    return queryset.filter(**{lookup: value for lookup, value in lookups.items() if value})


def abandoned_running():
    """A filter (Q) for jobs marked running whose worker stopped reporting progress."""
    return Q(status=ScrapeJob.Status.RUNNING) & (
        Q(heartbeat_at__lt=timezone.now() - timedelta(seconds=settings.PETSITE_SCRAPE_STALE_SECONDS))
        | Q(heartbeat_at__isnull=True)
    )


def startable_scrape_jobs(queryset):
    """Jobs of `queryset` that may be (re)started: queued ones, failed ones, and running ones whose worker died."""
    return queryset.filter(Q(status__in=[ScrapeJob.Status.QUEUED, ScrapeJob.Status.FAILED]) | abandoned_running())


def scrape_job_is_startable(job):
    return startable_scrape_jobs(ScrapeJob.objects.filter(pk=job.pk)).exists()


def scrape_jobs_by_ids(ids):
    """The jobs with these ids (missing ones left out), for the admin's live progress."""
    return ScrapeJob.objects.filter(pk__in=ids)


# Curation of scraped photos ---------------------------------------------------------------------------------------

def accepted_scraped_photos_for_dataset():
    """(image path, class) of every scraped photo staff accepted, under the class they gave it.

    Declared in settings.PETSITE_DATASET_EXTRA_SOURCES: only accepted scraped photos enter datasets.
    """
    examples = []
    for photo in ScrapedPhoto.objects.filter(review_state=ScrapedPhoto.Review.ACCEPTED).order_by("pk"):
        try:
            examples.append((photo.file.path, photo.dataset_label))
        except NotImplementedError:  # remote storage: no local path
            continue
    return examples


def review_state_text(photo):
    """What the curation grid says of a scraped photo's review: "Pending", "Rejected", "Accepted as Cat" (the class it
    enters datasets under). The page and its live updates both say it this way."""
    if photo.review_state == ScrapedPhoto.Review.ACCEPTED:
        return f"{photo.get_review_state_display()} as {display_name(photo.dataset_label)}"
    return photo.get_review_state_display()


@dataclass
class CurationItem:
    photo: ScrapedPhoto
    reasons: list  # why it is likely wrong (empty: the model agrees)

    @property
    def likely_wrong(self):
        return bool(self.reasons)

    @property
    def state_text(self):
        return review_state_text(self.photo)


def _cross_class_near_duplicates(photos, distance):
    """{photo pk: "near duplicate of a <class> photo"} for photos close to a photo of another class: another scraped
    photo, or a photo of the newest built dataset version (from its manifest)."""
    index = NearDuplicateIndex()
    labels = []
    for pk, phash, label, curated in ScrapedPhoto.objects.exclude(review_state=ScrapedPhoto.Review.REJECTED).values_list(
        "pk", "phash", "label", "curated_label"
    ):
        index.add(phash, len(labels))
        labels.append((("scraped", pk), curated or label))
    version = latest_built_version()
    if version is not None:
        try:
            from .dataset import read_manifest

            for entry in read_manifest(dataset_version_path(version.name))["files"]:
                if entry.get("phash"):
                    index.add(entry["phash"], len(labels))
                    labels.append((("dataset", entry["file"]), entry["label"]))
        except (OSError, ValueError, KeyError):
            pass  # a version whose files went missing: nothing to compare with
    found = {}
    if not len(index):
        return found
    for photo in photos:
        distances = index.distances(photo.phash)
        for position in (distances <= distance).nonzero()[0]:
            key, label = labels[int(position)]
            if key != ("scraped", photo.pk) and label != photo.dataset_label:
                where = "dataset" if key[0] == "dataset" else "scraped"
                found[photo.pk] = f"near duplicate of a {display_name(label)} photo ({where})"
                break
    return found


def curation_queue(state=ScrapedPhoto.Review.PENDING, label="", job=None, limit=None):
    """Scraped photos in review `state` ("" for all), likely-wrong first -> [CurationItem].

    Likely wrong: the live model's class differs from the search label, or it says "not a pet", or the photo is a near
    duplicate of another class's photo. Those come first (the model's disagreement most confident first), then photos
    not scored, then the rest, least confident agreement first. Among the likely wrong: more reasons first, then the
    model's disagreement most confident first.
    """
    photos = filter_given(ScrapedPhoto.objects.select_related("job"), review_state=state, label=label, job_id=job)
    photos = list(photos.order_by("pk"))
    near = _cross_class_near_duplicates(photos, default_distance())
    items = []
    for photo in photos:
        reasons = []
        if photo.predicted_label == UNKNOWN:
            reasons.append("the model says not a pet")
        elif photo.model_disagrees:
            reasons.append(f"the model says {display_name(photo.predicted_label)}")
        if photo.pk in near:
            reasons.append(near[photo.pk])
        items.append(CurationItem(photo, reasons))

    def order(item):
        confidence = item.photo.predicted_confidence
        if item.likely_wrong:
            disagreement = (confidence or 0.0) if item.photo.model_disagrees else 0.0
            return (0, -len(item.reasons), -disagreement, item.photo.pk)
        if confidence is None:
            return (1, 0, 0.0, item.photo.pk)
        return (2, 0, confidence, item.photo.pk)

    items.sort(key=order)
    return items[:limit] if limit else items


def curation_counts():
    """{state: photos} for every review state."""
    counts = dict.fromkeys(ScrapedPhoto.Review.values, 0)
    for row in ScrapedPhoto.objects.values_list("review_state", flat=True):
        counts[row] = counts.get(row, 0) + 1
    return counts


def scraped_photos_by_ids(ids):
    return ScrapedPhoto.objects.filter(pk__in=ids)


# Dataset versions -------------------------------------------------------------------------------------------------

def datasets_root():
    return Path(settings.PETSITE_DATASETS_ROOT)


def version_folder(name):
    """Where dataset version `name` lives (or would), built or not."""
    return datasets_root() / name


def dataset_version_by_name(name):
    return DatasetVersion.objects.filter(name=name).first()


def dataset_version_path(name):
    """The folder of built dataset version `name` (train/<class>/*, test/<class>/*, manifest.json), for training.

    Raises UnknownDatasetVersion (a ValueError saying why) when there is no such built version or its folder is gone.
    """
    version = dataset_version_by_name(name)
    if version is None:
        raise UnknownDatasetVersion(f"There is no dataset version {name!r}.")
    if not version.is_built:
        raise UnknownDatasetVersion(f"Dataset version {name!r} is {version.get_status_display().lower()}, not built.")
    folder = version_folder(name)
    if not folder.is_dir():
        raise UnknownDatasetVersion(f"The files of dataset version {name!r} are missing ({folder}).")
    return folder


class UnknownDatasetVersion(ValueError):
    """No built dataset version of that name."""


def built_dataset_versions():
    """Built versions, newest first (what a training form offers)."""
    return DatasetVersion.objects.filter(status=DatasetVersion.Status.BUILT).order_by("-finished_at", "-id")


def latest_built_version(before=None):
    """The newest built version, or, given `before`, the newest of those created before it (its previous version:
    a version built again after a resume keeps the previous it had, whatever was built since)."""
    versions = built_dataset_versions()
    if before is not None:
        versions = versions.filter(Q(created_at__lt=before.created_at) | Q(created_at=before.created_at, pk__lt=before.pk))
    return versions.first()


def stale_build_filter():
    """A filter (Q) for builds marked active whose worker stopped reporting progress."""
    cutoff = timezone.now() - timedelta(seconds=settings.PETSITE_DATASET_STALE_SECONDS)
    return Q(status__in=DatasetVersion.ACTIVE) & (
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    )


def active_dataset_build():
    """The dataset version being built (queued or running), or None."""
    return DatasetVersion.objects.filter(building=True).first()


def dataset_versions_by_ids(ids):
    return DatasetVersion.objects.filter(pk__in=ids)


def known_splits():
    """{content hash: split} of every photo an earlier build placed: later builds keep them there."""
    return dict(PhotoSplit.objects.values_list("sha256", "split"))
