"""Business logic of ingestion; the admin, the Celery tasks and the management commands call these."""
import logging

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from petsite.jobs import dispatch_on_commit

from .hashing import NearDuplicateIndex, default_distance
from .images import ImageError
from .labels import CLASSES
from .models import ScrapedPhoto, ScrapeJob
from .scraping.fetch import FetchError, Fetcher
from .scraping.scraper import ScrapeError, TooSmall, download_photo, iter_result_pages
from .scraping.sources import get_source
from .selectors import abandoned_running, startable_scrape_jobs

logger = logging.getLogger(__name__)
# This many photo downloads failing in a row on the network means the site is down, not one bad photo.
MAX_CONSECUTIVE_NETWORK_FAILURES = 5


def validate_scrape_job(source, query, label, target_count):
    """Raise ValueError saying what is wrong with this job definition; the admin's add form checks it too."""
    get_source(source)
    if label not in CLASSES:
        raise ValueError(f"Unknown label {label!r}; choose one of {', '.join(CLASSES)}.")
    if not query.strip():
        raise ValueError("The query is empty.")
    if target_count < 1:
        raise ValueError("The target count must be at least 1.")


def create_scrape_job(source, query, label, target_count, base_url="", user=None):
    """Validate and save a queued job (not started); raises ValueError."""
    validate_scrape_job(source, query, label, target_count)
    return ScrapeJob.objects.create(
        source=source, query=query.strip(), label=label, target_count=target_count, base_url=base_url, created_by=user
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
        _finish(run, job, ScrapeJob.Status.FAILED, error=str(exc))
    except Exception as exc:
        logger.exception("scrape job %s crashed", job_id)
        _finish(run, job, ScrapeJob.Status.FAILED, error=f"Unexpected error: {type(exc).__name__}: {exc}")
    else:
        _finish(run, job, ScrapeJob.Status.DONE, message=message)
    finally:
        if own_fetcher:
            fetcher.close()
    job.refresh_from_db()
    return job


def _finish(run, job, status, message="", error=""):
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
