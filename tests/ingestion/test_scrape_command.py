"""`manage.py scrape --resume` goes through the same service as the admin: a cancelled job resumes and finishes."""
import pytest
from django.core.management import CommandError, call_command

from ingestion import services
from ingestion.models import ScrapedPhoto, ScrapeJob

from .conftest import FLICKR_STORED, serve_flickr

pytestmark = pytest.mark.django_db


def test_scrape_resume_of_a_job_cancelled_by_staff_runs_to_the_end(site, capsys):
    serve_flickr(site)
    job = services.create_scrape_job("flickr", "cat", "cat", 100, base_url=site.base_url)

    def cancel_after_two(current):
        if current.downloaded_count == 2:
            services.cancel_scrape_jobs(ScrapeJob.objects.filter(pk=current.pk))  # what the admin's cancel action does

    job = services.run_scrape_job(job.pk, progress=cancel_after_two)
    assert job.status == ScrapeJob.Status.FAILED and "Cancelled by staff" in job.error

    call_command("scrape", "--resume", str(job.pk), verbosity=0)
    job.refresh_from_db()
    assert (job.status, job.error, job.cancel_requested, job.runs) == (ScrapeJob.Status.DONE, "", False, 2)
    assert ScrapedPhoto.objects.filter(job=job).count() == len(FLICKR_STORED)
    assert f"Job {job.pk}: done" in capsys.readouterr().out


def test_scrape_resume_refuses_a_missing_or_finished_job(site):
    with pytest.raises(CommandError, match="There is no scrape job 999"):
        call_command("scrape", "--resume", "999", verbosity=0)
    done = services.create_scrape_job("flickr", "cat", "cat", 3, base_url=site.base_url)
    ScrapeJob.objects.filter(pk=done.pk).update(status=ScrapeJob.Status.DONE, runs=1)
    with pytest.raises(CommandError, match=f"Job {done.pk} is done; only queued, failed or abandoned"):
        call_command("scrape", "--resume", str(done.pk), verbosity=0)
    assert ScrapeJob.objects.get(pk=done.pk).status == ScrapeJob.Status.DONE


def test_scrape_command_refuses_a_zero_target_count():
    with pytest.raises(CommandError, match="at least 1"):
        call_command("scrape", "--source", "flickr", "--query", "cat", "--label", "cat", "--count", "0", verbosity=0)
    assert not ScrapeJob.objects.exists()
