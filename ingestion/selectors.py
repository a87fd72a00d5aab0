"""Reads of the ingestion app: the admin and the services ask these instead of querying models themselves."""
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from .models import ScrapeJob

# A running job whose heartbeat is older than this lost its worker and may be resumed.
STALE_AFTER = timedelta(minutes=10)


def abandoned_running():
    """A filter (Q) for jobs marked running whose worker stopped reporting progress."""
    return Q(status=ScrapeJob.Status.RUNNING) & (
        Q(heartbeat_at__lt=timezone.now() - STALE_AFTER) | Q(heartbeat_at__isnull=True)
    )


def startable_scrape_jobs(queryset):
    """Jobs of `queryset` that may be (re)started: queued ones, failed ones, and running ones whose worker died."""
    return queryset.filter(Q(status__in=[ScrapeJob.Status.QUEUED, ScrapeJob.Status.FAILED]) | abandoned_running())


def scrape_job_is_startable(job):
    return startable_scrape_jobs(ScrapeJob.objects.filter(pk=job.pk)).exists()


def scrape_jobs_by_ids(ids):
    """The jobs with these ids (missing ones left out), for the admin's live progress."""
    return ScrapeJob.objects.filter(pk__in=ids)
