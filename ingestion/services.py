"""Business logic of ingestion; the admin, the Celery tasks and the management commands call these."""
import errno
import logging
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F, ProtectedError, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from petsite.jobs import JobSuperseded, dispatch_on_commit

from . import selectors
from .dataset import (
    DEFAULT_SPLIT_SEED, DEFAULT_TEST_RATIO, SPLITS, DatasetError, build_dataset, declared_example_sources, read_manifest,
)
from .hashing import NearDuplicateIndex, default_distance
from .images import ImageError
from .labels import CLASSES
from .models import DatasetVersion, PhotoSplit, ScrapedPhoto, ScrapeJob
from .scraping.fetch import FetchError, Fetcher
from .scraping.scraper import ScrapeError, TooSmall, download_photo, iter_result_pages
from .scraping.sources import get_source
from .selectors import abandoned_running, startable_scrape_jobs

logger = logging.getLogger(__name__)
# This many photo downloads failing in a row on the network means the site is down, not one bad photo.
MAX_CONSECUTIVE_NETWORK_FAILURES = 5


def validate_auto_accept_confidence(value):
    if value is not None and not 0 <= value <= 1:
        raise ValueError("The auto-accept confidence must be between 0 and 1, e.g. 0.95 (blank: never).")


def validate_scrape_job(source, query, label, target_count, auto_accept_confidence=None):
    """Raise ValueError saying what is wrong with this job definition; the admin's add form checks it too."""
    get_source(source)
    validate_auto_accept_confidence(auto_accept_confidence)
    if label not in CLASSES:
        raise ValueError(f"Unknown label {label!r}; choose one of {', '.join(CLASSES)}.")
    if not query.strip():
        raise ValueError("The query is empty.")
    if target_count < 1:
        raise ValueError("The target count must be at least 1.")


def create_scrape_job(source, query, label, target_count, base_url="", user=None, auto_accept_confidence=None):
    """Validate and save a queued job (not started); raises ValueError.

    `auto_accept_confidence`: photos the live model gives `label` with at least this confidence are accepted
    without review (None: never).
    """
    validate_scrape_job(source, query, label, target_count, auto_accept_confidence)
    return ScrapeJob.objects.create(
        source=source, query=query.strip(), label=label, target_count=target_count, base_url=base_url, created_by=user,
        auto_accept_confidence=auto_accept_confidence,
    )


def _requeue(queryset):
    """Put each startable job back in the queue, forgetting its error and any cancel request; returns their ids."""
    requeued = []
    with transaction.atomic():
        for job in startable_scrape_jobs(queryset.select_for_update()):
            ScrapeJob.objects.filter(pk=job.pk).update(status=ScrapeJob.Status.QUEUED, error="", finished_at=None, cancel_requested=False)
            requeued.append(job.pk)
    return requeued


def start_scrape_jobs(queryset):
    """Queue each startable job and run it in the background once committed; returns the ids of the jobs started."""
    from .tasks import run_scrape_job_task

    with transaction.atomic():
        started = _requeue(queryset)
        for job_id in started:
            dispatch_on_commit(run_scrape_job_task, job_id)
    return started


def resume_scrape_job(job_id):
    """Queue a failed, cancelled or abandoned job again, for the caller to run (run_scrape_job); returns it.

    Raises ValueError when there is no such job or it is running or done.
    """
    job = ScrapeJob.objects.filter(pk=job_id).first()
    if job is None:
        raise ValueError(f"There is no scrape job {job_id}.")
    if not _requeue(ScrapeJob.objects.filter(pk=job_id)):
        raise ValueError(f"Job {job_id} is {job.status}; only queued, failed or abandoned jobs can be resumed.")
    job.refresh_from_db()
    return job


def _claim(job_id):
    """Move the job to running unless another delivery already runs it (at-least-once tasks)."""
    now = timezone.now()
    claimable = Q(status=ScrapeJob.Status.QUEUED) | abandoned_running()
    return ScrapeJob.objects.filter(claimable, pk=job_id).update(
        status=ScrapeJob.Status.RUNNING, started_at=now, heartbeat_at=now, finished_at=None,
        error="", message="", runs=F("runs") + 1,
    )


class _JobRun:
    """One run of a job: walks result pages and stores new, non-duplicate photos."""

    COUNTERS = ("found_count", "downloaded_count", "skipped_count", "failed_count", "pages_count")

    def __init__(self, job, fetcher, progress):
        self.job = job
        self.fetcher = fetcher
        self.progress = progress
        self.distance = default_distance()
        self.min_side = settings.PETSITE_SCRAPE_MIN_SIDE
        self.max_side = settings.PETSITE_SCRAPE_MAX_SIDE
        # Near duplicates are refused across every class: one picture must not teach two labels.
        self.index = NearDuplicateIndex()
        for pk, phash in ScrapedPhoto.objects.values_list("pk", "phash"):
            self.index.add(phash, pk)
        # found/skipped/failed/pages describe this run; downloaded counts everything the job stored.
        job.found_count = job.skipped_count = job.failed_count = job.pages_count = 0
        job.downloaded_count = job.photos.count()
        self.network_failures = 0

    def save_progress(self, **extra):
        self.job.heartbeat_at = timezone.now()
        fields = {name: getattr(self.job, name) for name in self.COUNTERS}
        ScrapeJob.objects.filter(pk=self.job.pk).update(heartbeat_at=self.job.heartbeat_at, **fields, **extra)
        if self.progress:
            self.progress(self.job)

    def execute(self):
        job = self.job
        source = get_source(job.source)
        self.save_progress()
        if job.downloaded_count >= job.target_count:
            return f"Already stored {job.downloaded_count} photos; nothing to do."
        pages = iter_result_pages(
            self.fetcher, source, job.query, base_url=job.base_url, max_pages=settings.PETSITE_SCRAPE_MAX_PAGES,
            max_side=self.max_side,
        )
        for _number, _page_url, photo_refs in pages:
            job.pages_count += 1
            for photo_ref in photo_refs:
                if ScrapeJob.objects.filter(pk=job.pk, cancel_requested=True).exists():
                    raise ScrapeError(f"Cancelled by staff after storing {job.downloaded_count} photos; resume to continue.")
                job.found_count += 1
                self.handle(photo_ref)
                self.save_progress()
                if job.downloaded_count >= job.target_count:
                    return f"Stored {job.downloaded_count} photos (the target) from {job.pages_count} result page(s)."
        return (
            f"The results ran out after {job.pages_count} page(s): stored {job.downloaded_count} "
            f"of {job.target_count} photos."
        )

    def handle(self, photo_ref):
        job = self.job
        # The site's photo id finds it whatever size it was stored at; the URL finds photos of unknown sites.
        stored = Q(url__in=photo_ref.urls)
        if photo_ref.site_photo_id:
            stored |= Q(site_photo_id=photo_ref.site_photo_id)
        owners = set(ScrapedPhoto.objects.filter(stored).values_list("job_id", flat=True))
        if owners:
            if job.pk not in owners:  # stored by this job on an earlier run: already counted as downloaded
                job.skipped_count += 1
            return
        try:
            photo = download_photo(self.fetcher, photo_ref.urls, self.min_side, self.max_side)
        except TooSmall:
            job.skipped_count += 1
            return
        except (FetchError, ImageError) as exc:
            job.failed_count += 1
            network = isinstance(exc, FetchError) and exc.retryable and exc.status is None
            self.network_failures = self.network_failures + 1 if network else 0
            if self.network_failures >= MAX_CONSECUTIVE_NETWORK_FAILURES:
                raise ScrapeError(f"Stopped after {self.network_failures} downloads in a row failed; the last: {exc}")
            logger.info("scrape job %s: %s failed: %s", job.pk, " then ".join(photo_ref.urls), exc)
            return
        self.network_failures = 0
        if self.is_duplicate(photo) or not self.store(photo, photo_ref.site_photo_id):
            job.skipped_count += 1
            return
        job.downloaded_count += 1

    def is_duplicate(self, photo):
        if ScrapedPhoto.objects.filter(sha256=photo.sha256).exists():
            return True
        return self.index.nearest(photo.phash, self.distance) is not None

    def store(self, photo, site_photo_id):
        job = self.job
        record = ScrapedPhoto(
            job=job, url=photo.url, site_photo_id=site_photo_id, query=job.query, label=job.label,
            sha256=photo.sha256, phash=photo.phash, width=photo.width, height=photo.height, size_bytes=len(photo.data),
        )
        apply_score(record, score_photo_bytes(photo.data), job.auto_accept_confidence)
        # File first, then the row; a row that cannot be written (a concurrent job stored the
        # same bytes or the same site photo) takes its file with it.
        record.file.save(f"{photo.sha256[:24]}.{photo.extension}", ContentFile(photo.data), save=False)
        try:
            with transaction.atomic():
                record.save()
        except IntegrityError:
            record.file.delete(save=False)
            return False
        self.index.add(photo.phash, record.pk)
        return True


def cancel_scrape_jobs(queryset):
    """Ask queued or running jobs to stop; a running job stops before its next photo. Returns how many."""
    return queryset.filter(status__in=[ScrapeJob.Status.QUEUED, ScrapeJob.Status.RUNNING]).update(cancel_requested=True)


def run_scrape_job(job_id, progress=None, fetcher=None):
    """Run (or resume) a scrape job to the end and record done or failed; returns the job.

    Safe to deliver twice: only a queued (or abandoned running) job is claimed. Photos stored
    before a failure stay, and a resumed job skips what it already stored.
    """
    if not _claim(job_id):
        logger.info("scrape job %s is not queued; not running it again", job_id)
        return ScrapeJob.objects.filter(pk=job_id).first()
    job = ScrapeJob.objects.get(pk=job_id)
    own_fetcher = fetcher is None
    fetcher = fetcher or Fetcher()
    run = None
    try:
        run = _JobRun(job, fetcher, progress)
        message = run.execute()
    except ScrapeError as exc:
        _record_job_end(run, job, ScrapeJob.Status.FAILED, error=str(exc))
    except Exception as exc:
        logger.exception("scrape job %s crashed", job_id)
        _record_job_end(run, job, ScrapeJob.Status.FAILED, error=f"Unexpected error: {type(exc).__name__}: {exc}")
    else:
        _record_job_end(run, job, ScrapeJob.Status.DONE, message=message)
    finally:
        if own_fetcher:
            fetcher.close()
    job.refresh_from_db()
    return job


def _record_job_end(run, job, status, message="", error=""):
    """Record that a scrape job ended (done or failed), with its message or error."""
    fields = {"status": status, "message": message, "error": error, "finished_at": timezone.now()}
    if run is not None:
        run.save_progress(**fields)
    else:
        ScrapeJob.objects.filter(pk=job.pk).update(**fields)
    for name, value in fields.items():
        setattr(job, name, value)


def delete_scraped_photos(queryset):
    """Delete photos and their files; returns how many."""
    count = 0
    for photo in queryset:
        photo.file.delete(save=False)
        photo.delete()
        count += 1
    return count


# Scoring and curation of scraped photos ---------------------------------------------------------------------------

def score_photo_bytes(data):
    """The live model's answer for a photo, through settings.PETSITE_SCRAPED_PHOTO_SCORER -> dict, or None.

    The scorer is named in settings (ingestion never imports the classifier); a photo that cannot be scored (no model
    yet, a broken file) is stored unscored and curated like any other.
    """
    path = getattr(settings, "PETSITE_SCRAPED_PHOTO_SCORER", "")
    if not path:
        return None
    try:
        return import_string(path)(data)
    except Exception as exc:
        logger.warning("could not score a scraped photo with %s (%s: %s)", path, type(exc).__name__, exc)
        return None


def apply_score(photo, score, auto_accept_confidence=None):
    """Record `score` on an unsaved or pending photo; accept it when the model agrees with its label at or above
    `auto_accept_confidence` (None: never)."""
    if not score:
        return photo
    photo.predicted_label = score.get("label", "")
    photo.predicted_confidence = score.get("confidence")
    photo.pet_score = score.get("pet_score")
    photo.scored_with = (score.get("model_version") or "")[:80]
    if (auto_accept_confidence is not None and photo.predicted_label == photo.label
            and photo.predicted_confidence is not None and photo.predicted_confidence >= auto_accept_confidence):
        photo.review_state = ScrapedPhoto.Review.ACCEPTED
        photo.auto_accepted = True
        photo.reviewed_at = timezone.now()
    return photo


@dataclass(frozen=True)
class PhotoReview:
    """A scraped photo's curation state before a decision, so the decision can be undone."""

    pk: int
    review_state: str
    curated_label: str
    auto_accepted: bool
    reviewed_by_id: int | None
    reviewed_at: object

    def as_dict(self):
        return {**self.__dict__, "reviewed_at": self.reviewed_at.isoformat() if self.reviewed_at else None}

    @classmethod
    def from_dict(cls, data):
        from django.utils.dateparse import parse_datetime

        return cls(**{**data, "reviewed_at": parse_datetime(data["reviewed_at"]) if data.get("reviewed_at") else None})


REVIEW_FIELDS = ("review_state", "curated_label", "auto_accepted", "reviewed_by_id", "reviewed_at")


def curate_photos(photos, decision, user, label=""):
    """Accept (`decision` "accept", under `label` or the search label) or reject ("reject") scraped photos.

    Returns the PhotoReview of each photo before the decision (what undo_curation restores).
    """
    if decision not in ("accept", "reject"):
        raise ValueError(f"Unknown decision {decision!r}; accept or reject.")
    if label and label not in CLASSES:
        raise ValueError(f"Unknown class {label!r}.")
    with transaction.atomic():
        ids = list(photos.values_list("pk", flat=True))
        rows = list(ScrapedPhoto.objects.select_for_update().filter(pk__in=ids).values_list("pk", "label", *REVIEW_FIELDS))
        before = [PhotoReview(*row[:1], *row[2:]) for row in rows]
        now = timezone.now()
        if decision == "reject":
            ScrapedPhoto.objects.filter(pk__in=ids).update(
                review_state=ScrapedPhoto.Review.REJECTED, curated_label="", auto_accepted=False, reviewed_by=user, reviewed_at=now
            )
        else:
            for pk, search_label, *_ in rows:
                ScrapedPhoto.objects.filter(pk=pk).update(
                    review_state=ScrapedPhoto.Review.ACCEPTED, curated_label="" if label in ("", search_label) else label,
                    auto_accepted=False, reviewed_by=user, reviewed_at=now,
                )
    return before


def undo_curation(before):
    """Put photos back as they were before a decision (the PhotoReviews curate_photos returned); returns how many."""
    count = 0
    with transaction.atomic():
        for review in before:
            count += ScrapedPhoto.objects.filter(pk=review.pk).update(
                review_state=review.review_state, curated_label=review.curated_label, auto_accepted=review.auto_accepted,
                reviewed_by_id=review.reviewed_by_id, reviewed_at=review.reviewed_at,
            )
    return count


# Dataset versions --------------------------------------------------------------------------------------------------

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}")  # the whole name (fullmatch: "$" would let "v1\n" through)


class BuildRefused(ValueError):
    """A dataset build cannot start (another is running, a bad name or folder); the message says why."""


class BuildCancelled(Exception):
    pass


def validate_dataset_version(name, folders):
    """Raise BuildRefused saying what is wrong with a new version's name or folders."""
    if not NAME_PATTERN.fullmatch(name or ""):
        raise BuildRefused("The name must be 1-80 letters, digits, - or _, starting with a letter or digit.")
    if DatasetVersion.objects.filter(name=name).exists() or selectors.version_folder(name).exists():
        raise BuildRefused(f"A dataset version named {name!r} already exists; versions are never rebuilt, choose a new name.")
    check_source_folders(folders)


def check_source_folders(folders):
    """Raise BuildRefused when a source folder is (inside) MEDIA_ROOT/scraped: scraped photos enter datasets only
    through curation (accepted ones, PETSITE_DATASET_EXTRA_SOURCES), never with the pending and rejected ones."""
    scraped = (Path(settings.MEDIA_ROOT) / "scraped").resolve()
    for folder in folders:
        resolved = Path(folder).resolve()
        if resolved == scraped or scraped in resolved.parents:
            raise BuildRefused(
                f"{folder} holds scraped photos, which enter datasets through curation: accepted ones are included "
                "by themselves. Leave it out of the folders."
            )


def mark_interrupted_builds():
    """Mark interrupted the builds whose worker stopped reporting progress (killed or restarted), so they stop
    blocking new builds and staff can resume them. Returns the versions marked (the sweeper calls this)."""
    marked = []
    for version in DatasetVersion.objects.filter(selectors.stale_build_filter()):  # read first: most passes find none
        where = f" at {version.progress_done} of {version.progress_total} photos" if version.progress_total else ""
        if version.status == DatasetVersion.Status.QUEUED:
            reason = "Interrupted: no worker started the build (its worker stopped or the job was lost)."
        else:
            reason = (f"Interrupted: the build's worker stopped{where} (it died or was restarted); what it wrote is not "
                      "used and is removed when the build is resumed or deleted.")
        # Conditional on the row still being stale: a build that reported progress since it was read is left alone.
        if _end_build(version.pk, DatasetVersion.Status.INTERRUPTED, only_from=(version.status,),
                      where=selectors.stale_build_filter(), error=f"{reason} Resume builds it again."):
            marked.append(version)
    return marked


def create_dataset_version(name, folders=None, user=None, *, frame=None, test_ratio=DEFAULT_TEST_RATIO, seed=DEFAULT_SPLIT_SEED,
                           extra_sources=None):
    """Save a queued DatasetVersion (not started; run it with run_dataset_build or start_dataset_version).

    `folders`: base photo folders (default settings.PETSITE_DATASET_BASE_FOLDERS); `extra_sources`: dotted paths of
    example functions (default settings.PETSITE_DATASET_EXTRA_SOURCES: reviewed predictions, accepted scraped photos).
    Raises BuildRefused when another build is queued or running (one at a time) or the name or a folder is wrong.
    """
    folders = [str(folder) for folder in (settings.PETSITE_DATASET_BASE_FOLDERS if folders is None else folders)]
    extra_sources = list(settings.PETSITE_DATASET_EXTRA_SOURCES if extra_sources is None else extra_sources)
    validate_dataset_version(name, folders)
    if frame is not None and frame < 8:
        raise BuildRefused("The frame must be at least 8 pixels (blank: photos stored whole).")
    mark_interrupted_builds()
    active = selectors.active_dataset_build()
    if active is not None:
        raise BuildRefused(f"Dataset version {active.name} is being built; wait for it to finish or cancel it first.")
    try:
        with transaction.atomic():
            return DatasetVersion.objects.create(
                name=name, folders=folders, extra_sources=extra_sources, frame=frame, test_ratio=test_ratio, seed=seed,
                created_by=user, building=True,
            )
    except IntegrityError as exc:  # a concurrent start took the one build slot (or the name)
        active = selectors.active_dataset_build()
        if active is not None:
            raise BuildRefused(f"Dataset version {active.name} is being built; wait for it to finish or cancel it first.") from exc
        raise BuildRefused(f"A dataset version named {name!r} already exists.") from exc


def start_dataset_version(name, folders=None, user=None, **options):
    """Create a version and build it in the background (the `jobs` queue, or the embedded worker); returns it."""
    from .tasks import build_dataset_version_task

    with transaction.atomic():
        version = create_dataset_version(name, folders, user, **options)
        dispatch_on_commit(build_dataset_version_task, version.pk)
    return version


def cancel_dataset_builds(queryset):
    """Ask queued or running builds to stop; a queued one stops at once. Returns how many."""
    count = 0
    for version in queryset.filter(status__in=DatasetVersion.ACTIVE):
        count += 1
        if DatasetVersion.objects.filter(pk=version.pk, status=DatasetVersion.Status.QUEUED).exists():
            _end_build(version.pk, DatasetVersion.Status.CANCELLED, error="Cancelled by staff before it started.",
                       only_from=(DatasetVersion.Status.QUEUED,))
        DatasetVersion.objects.filter(pk=version.pk, status__in=DatasetVersion.ACTIVE).update(cancel_requested=True)
    return count


def _end_build(version_id, status, only_from=DatasetVersion.ACTIVE, where=None, **fields):
    rows = DatasetVersion.objects.filter(pk=version_id, status__in=only_from)
    if where is not None:
        rows = rows.filter(where)
    return rows.update(status=status, building=None, finished_at=timezone.now(), **fields)


class BuildSuperseded(JobSuperseded):
    """The build is no longer this worker's attempt (marked interrupted, maybe resumed by another worker): the worker
    stops without writing to it (the task logs it)."""

    def __init__(self, version_id, attempt):
        super().__init__(f"Dataset version #{version_id}: build attempt {attempt} was marked interrupted or resumed "
                         "elsewhere; this worker stops without touching it.")


def _own_build(version_id, attempt):
    """The version's row while it is still this worker's attempt (building it); empty once interrupted or resumed."""
    return DatasetVersion.objects.filter(pk=version_id, attempt=attempt, status=DatasetVersion.Status.RUNNING)


def _end_own_build(version_id, attempt, status, **fields):
    """Record how this worker's build ended; BuildSuperseded (nothing written) when it is no longer its attempt."""
    if not _end_build(version_id, status, only_from=(DatasetVersion.Status.RUNNING,), where=Q(attempt=attempt), **fields):
        raise BuildSuperseded(version_id, attempt)


class _BuildProgress:
    """The progress callback of a build: saves counts and a heartbeat at most every half second, stops on cancel, and
    stops (BuildSuperseded, nothing written) once the build is no longer this worker's attempt."""

    def __init__(self, version_id, attempt, echo=None):
        self.version_id = version_id
        self.attempt = attempt
        self.echo = echo
        self.last = 0.0

    def __call__(self, done, total):
        now = time.monotonic()
        if now - self.last < 0.5 and done < total:
            return
        self.last = now
        # The build's own heartbeat first: an echo that stops (its caller's job was superseded) must not leave the
        # build looking dead, nor skip the check that the build is still this worker's.
        if not _own_build(self.version_id, self.attempt).update(
            progress_done=done, progress_total=total, heartbeat_at=timezone.now(), message=f"Processed {done} of {total} photos."
        ):
            raise BuildSuperseded(self.version_id, self.attempt)
        if self.echo:
            self.echo(done, total)
        if DatasetVersion.objects.filter(pk=self.version_id, cancel_requested=True).exists():
            raise BuildCancelled()

    def check_still_ours(self):
        """Before the built files replace the version's folder: stop if another attempt owns the build now."""
        if not _own_build(self.version_id, self.attempt).exists():
            raise BuildSuperseded(self.version_id, self.attempt)


def interrupt_own_build(version_id, attempt, reason):
    """End attempt `attempt` of a running build as interrupted, saying why (its caller stopped: e.g. the retrain
    building it was superseded), so it never blocks new builds; resumable like any interrupted build. True when ended;
    False when the build is no longer that attempt's (nothing written)."""
    return bool(_end_build(version_id, DatasetVersion.Status.INTERRUPTED, only_from=(DatasetVersion.Status.RUNNING,),
                           where=Q(attempt=attempt), error=reason[:5000]))


def _readable_failure(exc):
    if isinstance(exc, (DatasetError, BuildRefused)):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "The disk is full: the dataset could not be written (no space left on device). Free some space and build again."
    if isinstance(exc, OSError):
        return f"A file could not be read or written: {exc.strerror or exc}{f' ({exc.filename})' if exc.filename else ''}."
    return f"Unexpected error: {type(exc).__name__}: {exc}"


def _check_folders(folders):
    for folder in folders:
        path = Path(folder)
        if not path.is_dir():
            raise DatasetError(f"The source folder {folder} does not exist (was it deleted or moved?).")
        if not any(child.is_file() for label in CLASSES if (path / label).is_dir() for child in (path / label).iterdir()):
            raise DatasetError(f"The source folder {folder} is empty: it holds no photos in <class>/ folders ({', '.join(CLASSES)}).")


def _files_by_class_split(manifest):
    found = {}
    for entry in manifest["files"]:
        found.setdefault((entry["label"], entry["split"]), set()).add(entry["sha256"])
    return found


def version_diff(manifest, previous_manifest):
    """{class: {split: {"added": n, "removed": n}}}: photos (by content) added and removed since the previous manifest."""
    now = _files_by_class_split(manifest)
    before = _files_by_class_split(previous_manifest) if previous_manifest else {}
    return {
        label: {
            split: {
                "added": len(now.get((label, split), set()) - before.get((label, split), set())),
                "removed": len(before.get((label, split), set()) - now.get((label, split), set())),
            }
            for split in SPLITS
        }
        for label in CLASSES
    }


def _remove_build_files(name):
    """Remove dataset version `name`'s folder and what an unfinished build of it left beside it (build_dataset's
    .<name>.building-* and .<name>.old-* folders)."""
    root = selectors.version_folder(name).parent
    for path in [root / name, *root.glob(f".{name}.building-*"), *root.glob(f".{name}.old-*")]:
        shutil.rmtree(path, ignore_errors=True)


def requeue_interrupted_build(version):
    """Queue an interrupted build again, its unfinished files removed, for the caller to run (run_dataset_build).

    Takes the one-build-at-a-time slot: BuildRefused while another build is queued or running, or when the version
    is not interrupted. Returns the version, queued.
    """
    mark_interrupted_builds()
    active = selectors.active_dataset_build()
    if active is not None and active.pk != version.pk:
        raise BuildRefused(f"Dataset version {active.name} is being built; wait for it to finish or cancel it first.")
    now = timezone.now()
    name = version.name
    try:
        with transaction.atomic():
            requeued = DatasetVersion.objects.filter(pk=version.pk, status=DatasetVersion.Status.INTERRUPTED).update(
                status=DatasetVersion.Status.QUEUED, building=True, cancel_requested=False, error="", progress_done=0,
                progress_total=0, started_at=None, finished_at=None, build_seconds=None,
                heartbeat_at=now,  # a queued build nobody takes goes stale from here, not from its first creation
                message="Resumed: waiting for a worker to build it again.",
                attempt=F("attempt") + 1,  # whatever the stopped worker still tries to write is refused
            )
            if requeued:
                # Its files were never recorded as built: whatever the dead worker wrote is discarded, the build starts
                # over. Once committed (before the job is dispatched): a rolled back resume keeps them.
                transaction.on_commit(lambda: _remove_build_files(name))
    except IntegrityError as exc:  # a concurrent start took the one build slot
        raise BuildRefused("Another dataset version is being built; wait for it to finish or cancel it first.") from exc
    if not requeued:
        current = DatasetVersion.objects.filter(pk=version.pk).first()
        state = current.get_status_display().lower() if current else "deleted"
        raise BuildRefused(f"Dataset version {version.name} is not interrupted ({state}); only an interrupted build can be resumed.")
    return DatasetVersion.objects.get(pk=version.pk)


def resume_dataset_build(version):
    """Build an interrupted version again in the background (the `jobs` queue, or the embedded worker).
    BuildRefused saying why when it cannot (another build runs, or it is not interrupted). Returns it, queued."""
    from .tasks import build_dataset_version_task

    with transaction.atomic():
        version = requeue_interrupted_build(version)
        dispatch_on_commit(build_dataset_version_task, version.pk)
    return version


def run_dataset_build(version_id, progress=None, workers=None):
    """Build a queued dataset version to the end, recording built, failed (with a readable reason) or cancelled.

    Safe to deliver twice: only a queued version is claimed. A failed build leaves nothing at the version's folder
    and every earlier version untouched. Returns the version. Raises BuildSuperseded (nothing written) when the build
    was marked interrupted (or resumed elsewhere) while this worker ran it; a worker stopping (SystemExit,
    KeyboardInterrupt, Celery's WorkerShutdown) leaves the row running, for the sweeper to mark interrupted.
    """
    now = timezone.now()
    if not DatasetVersion.objects.filter(pk=version_id, status=DatasetVersion.Status.QUEUED).update(
        status=DatasetVersion.Status.RUNNING, started_at=now, heartbeat_at=now, message="Collecting photos…", error="",
        attempt=F("attempt") + 1,
    ):
        logger.info("dataset version %s is not queued; not building it again", version_id)
        return DatasetVersion.objects.filter(pk=version_id).first()
    version = DatasetVersion.objects.get(pk=version_id)
    attempt = version.attempt
    watch = _BuildProgress(version.pk, attempt, progress)
    started = time.monotonic()
    try:
        _check_folders(version.folders)
        example_sources = [(name, provide()) for name, provide in declared_example_sources() if name in version.extra_sources]
        missing = set(version.extra_sources) - {name for name, _ in example_sources}
        example_sources += [(name, import_string(name)()) for name in sorted(missing)]
        previous = selectors.latest_built_version(before=version)
        report = build_dataset(
            version.folders, selectors.version_folder(version.name), test_ratio=version.test_ratio, seed=version.seed,
            size=version.frame, example_sources=example_sources, progress=watch, before_swap=watch.check_still_ours,
            workers=workers or 1, known_splits=selectors.known_splits(), min_per_class=settings.PETSITE_DATASET_MIN_PER_CLASS,
        )
    except JobSuperseded:
        logger.warning("dataset version %s: build attempt %s superseded; stopping without touching it", version.name, attempt)
        raise
    except BuildCancelled:
        _end_own_build(version.pk, attempt, DatasetVersion.Status.CANCELLED, error="Cancelled by staff; nothing was kept.",
                       build_seconds=time.monotonic() - started)
    except Exception as exc:
        # Not BaseException: a worker stopping leaves the build running for the sweeper to mark interrupted (resumable).
        if not isinstance(exc, (DatasetError, OSError)):
            logger.exception("dataset version %s crashed", version.name)
        _end_own_build(version.pk, attempt, DatasetVersion.Status.FAILED, error=_readable_failure(exc),
                       build_seconds=time.monotonic() - started)
    else:
        _record_build(version, attempt, report, previous, time.monotonic() - started)
    return DatasetVersion.objects.get(pk=version.pk)


def _record_build(version, attempt, report, previous, seconds):
    manifest = read_manifest(report.dest)
    previous_manifest = None
    if previous is not None:
        try:
            previous_manifest = read_manifest(selectors.version_folder(previous.name))
        except (OSError, ValueError):
            previous_manifest = None
    with transaction.atomic():  # built and its photos' splits recorded together, only by the attempt that owns it
        _end_own_build(
            version.pk, attempt, DatasetVersion.Status.BUILT, counts=report.counts, photo_count=report.kept, digest=report.digest,
            inputs_by_source=report.inputs_by_source, previous=previous, diff=version_diff(manifest, previous_manifest),
            progress_done=report.inputs, progress_total=report.inputs, build_seconds=seconds,
            message=f"Built {report.kept} photos from {report.inputs} inputs in {seconds:.1f} s.",
            report={
                "inputs": report.inputs, "kept": report.kept, "exact_duplicates": report.exact_duplicates,
                "near_duplicates": report.near_duplicates, "unreadable": len(report.unreadable), "ignored": len(report.ignored),
                "label_conflicts": len(report.label_conflicts), "frame": version.frame,
            },
        )
        PhotoSplit.objects.bulk_create(
            [PhotoSplit(sha256=sha, split=split, first_version_id=version.pk) for sha, split in report.assignments.items()],
            ignore_conflicts=True, batch_size=1000,
        )


def dataset_version_users(version):
    """Why `version` is in use ([reasons] from settings.PETSITE_DATASET_VERSION_USERS); empty: unused."""
    reasons = []
    for path in settings.PETSITE_DATASET_VERSION_USERS:
        reason = import_string(path)(version)
        if reason:
            reasons.append(reason)
    return reasons


def delete_dataset_version(version):
    """Delete an unused, finished version and (once committed) its folder. Raises BuildRefused saying why not."""
    if version.is_active:
        raise BuildRefused(f"Dataset version {version.name} is being built; cancel it first.")
    reasons = dataset_version_users(version)
    if reasons:
        raise BuildRefused(f"Dataset version {version.name} is in use: {'; '.join(reasons)}.")
    try:
        with transaction.atomic():
            DatasetVersion.objects.filter(pk=version.pk).delete()
            transaction.on_commit(lambda: _remove_build_files(version.name))
    except ProtectedError as exc:
        raise BuildRefused(f"Dataset version {version.name} is in use by {len(exc.protected_objects)} record(s).") from exc
