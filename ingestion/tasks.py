from celery import shared_task

from . import services


@shared_task(name="ingestion.run_scrape_job", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_scrape_job_task(job_id):
    job = services.run_scrape_job(job_id)
    return job.status if job else None
