import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


@shared_task(name="ingestion.run_scrape_job", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_scrape_job_task(job_id):
    job = services.run_scrape_job(job_id)
    return job.status if job else None


@shared_task(name="ingestion.build_dataset_version", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def build_dataset_version_task(version_id):
    try:
        version = services.run_dataset_build(version_id)
    except services.BuildSuperseded as exc:  # marked interrupted (maybe resumed) while this worker was quiet
        logger.warning("%s", exc)
        return None
    return version.status if version else None
