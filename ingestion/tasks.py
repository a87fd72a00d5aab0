from celery import shared_task

from . import services


@shared_task(name="ingestion.run_scrape_job", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_scrape_job_task(job_id):
    job = services.run_scrape_job(job_id)
    return job.status if job else None


@shared_task(name="ingestion.build_dataset_version", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def build_dataset_version_task(version_id):
    version = services.run_dataset_build(version_id)
    return version.status if version else None
