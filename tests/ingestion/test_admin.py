"""The scrape job admin: staff create and start jobs, watch live progress, resume failed ones."""
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from ingestion import services
from petsite import jobs
from ingestion.models import ScrapedPhoto, ScrapeJob

from .conftest import FLICKR_STORED, serve_flickr

pytestmark = pytest.mark.django_db


@pytest.fixture
def dispatched(monkeypatch):
    """Jobs the admin started (instead of running them on a background thread)."""
    calls = []
    monkeypatch.setattr(services, "dispatch_on_commit", lambda task, *args: calls.append((task.name, *args)))
    return calls


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("staff", "staff@example.com", "pw-for-tests")
    client.force_login(user)
    return user


def test_staff_create_start_and_watch_a_job_finish(client, staff, dispatched, site):
    serve_flickr(site)
    response = client.post(
        reverse("admin:ingestion_scrapejob_add"),
        {"source": "flickr", "query": "cat", "label": "cat", "target_count": "5", "base_url": site.base_url},
    )
    assert response.status_code == 302 and response.url == reverse("admin:ingestion_scrapejob_changelist")
    job = ScrapeJob.objects.get()
    assert (job.status, job.created_by, job.target_count) == (ScrapeJob.Status.QUEUED, staff, 5)
    assert dispatched == [("ingestion.run_scrape_job", job.pk)]

    page = client.get(reverse("admin:ingestion_scrapejob_changelist")).content.decode()
    assert f'data-progress-id="{job.pk}"' in page and 'data-active="1"' in page
    assert "ingestion/admin_progress.js" in page

    services.run_scrape_job(job.pk)  # what the Celery task does

    progress = client.get(reverse("admin:ingestion_scrapejob_progress"), {"ids": f"{job.pk},999,x"}).json()
    assert len(progress["jobs"]) == 1
    state = progress["jobs"][0]
    assert (state["status"], state["downloaded"], state["target"], state["percent"], state["active"]) == ("done", 5, 5, 100, False)
    assert '<progress max="5" value="5"' in state["progress_html"]

    page = client.get(reverse("admin:ingestion_scrapejob_changelist")).content.decode()
    assert '<progress max="5" value="5"' in page and "5/5" in page and 'data-active="1"' not in page
    detail = client.get(reverse("admin:ingestion_scrapejob_change", args=[job.pk])).content.decode()
    assert "5 stored photos" in detail and "_start_job" not in detail  # done: nothing to resume


def test_progress_endpoint_is_staff_only(client):
    url = reverse("admin:ingestion_scrapejob_progress")
    assert client.get(url).status_code == 302  # to the admin login
    user = get_user_model().objects.create_user("visitor", password="pw-for-tests")
    client.force_login(user)
    assert client.get(url).status_code == 302


def test_a_failed_job_is_resumed_from_its_page_and_from_the_action(client, staff, dispatched, site):
    job = services.create_scrape_job("flickr", "cat", "cat", 3, base_url=site.base_url)
    ScrapeJob.objects.filter(pk=job.pk).update(status=ScrapeJob.Status.FAILED, error="Could not read page 2", runs=1)
    done = services.create_scrape_job("flickr", "dog", "dog", 3)
    ScrapeJob.objects.filter(pk=done.pk).update(status=ScrapeJob.Status.DONE, runs=1)

    change_url = reverse("admin:ingestion_scrapejob_change", args=[job.pk])
    detail = client.get(change_url).content.decode()
    assert 'name="_start_job" value="Resume job"' in detail and "Could not read page 2" in detail
    response = client.post(change_url, {"_start_job": "Resume job"})
    assert response.status_code == 302
    assert dispatched == [("ingestion.run_scrape_job", job.pk)]
    assert ScrapeJob.objects.get(pk=job.pk).status == ScrapeJob.Status.QUEUED

    ScrapeJob.objects.filter(pk=job.pk).update(status=ScrapeJob.Status.FAILED)
    response = client.post(
        reverse("admin:ingestion_scrapejob_changelist"),
        {"action": "start_jobs", "_selected_action": [job.pk, done.pk]},
        follow=True,
    )
    text = response.content.decode()
    assert f"Started 1 job: #{job.pk}" in text and "already running or done" in text
    assert dispatched[-1] == ("ingestion.run_scrape_job", job.pk)
    assert ScrapeJob.objects.get(pk=done.pk).status == ScrapeJob.Status.DONE

    serve_flickr(site)
    job = services.run_scrape_job(job.pk)
    assert (job.status, job.runs, job.downloaded_count) == (ScrapeJob.Status.DONE, 2, 3)


def test_scraped_photos_list_and_delete_with_their_files(client, staff, site):
    serve_flickr(site)
    services.run_scrape_job(services.create_scrape_job("flickr", "cat", "cat", 2, base_url=site.base_url).pk)
    page = client.get(reverse("admin:ingestion_scrapedphoto_changelist")).content.decode()
    assert FLICKR_STORED[0] in page and "/media/scraped/cat/" in page

    photo = ScrapedPhoto.objects.order_by("pk").first()
    path = Path(photo.file.path)
    client.post(reverse("admin:ingestion_scrapedphoto_delete", args=[photo.pk]), {"post": "yes"})
    assert not ScrapedPhoto.objects.filter(pk=photo.pk).exists() and not path.exists()
    assert client.get(reverse("admin:ingestion_scrapedphoto_add")).status_code == 403


def test_add_form_validates(client, staff, dispatched):
    page = client.get(reverse("admin:ingestion_scrapejob_add")).content.decode()
    assert 'name="query"' in page and 'name="base_url"' in page and 'name="status"' not in page
    response = client.post(reverse("admin:ingestion_scrapejob_add"), {"source": "flickr", "query": "cat", "label": "unicorn", "target_count": "5"})
    assert response.status_code == 200 and not ScrapeJob.objects.exists() and dispatched == []


@pytest.mark.parametrize("values, error", [
    ({"target_count": "0"}, "The target count must be at least 1."),
    ({"query": "   "}, "This field is required."),
])
def test_the_add_form_refuses_what_create_scrape_job_refuses(client, staff, dispatched, values, error):
    post = {"source": "flickr", "query": "cat", "label": "cat", "target_count": "5", **values}
    response = client.post(reverse("admin:ingestion_scrapejob_add"), post)
    assert response.status_code == 200 and error in response.content.decode()
    assert not ScrapeJob.objects.exists() and dispatched == []


def test_an_auto_accept_confidence_out_of_range_is_said_once(client, staff, dispatched):
    post = {"source": "flickr", "query": "cat", "label": "cat", "target_count": "5", "auto_accept_confidence": "95"}
    page = client.post(reverse("admin:ingestion_scrapejob_add"), post).content.decode()
    assert page.count("The auto-accept confidence must be between 0 and 1, e.g. 0.95") == 1
    assert "Ensure this value is less than or equal to 1.0." not in page and not ScrapeJob.objects.exists()


def test_a_base_url_the_fetch_guard_refuses_is_said_on_the_form(client, staff, dispatched, settings):
    post = {"source": "flickr", "query": "cat", "label": "cat", "target_count": "5", "base_url": "http://127.0.0.1:9999/"}
    page = client.post(reverse("admin:ingestion_scrapejob_add"), post).content.decode()
    assert "Refused 127.0.0.1: it is a non-public address" in page and not ScrapeJob.objects.exists()
    settings.PETSITE_SCRAPE_ALLOWED_HOSTS = ["127.0.0.1"]  # a local test server, allowed on purpose
    client.post(reverse("admin:ingestion_scrapejob_add"), post)
    assert ScrapeJob.objects.get().base_url == "http://127.0.0.1:9999/"


def test_the_admin_creates_jobs_through_the_service(client, staff, dispatched, monkeypatch):
    created = []
    create = services.create_scrape_job
    monkeypatch.setattr(services, "create_scrape_job", lambda *args, **kwargs: created.append(kwargs) or create(*args, **kwargs))
    client.post(reverse("admin:ingestion_scrapejob_add"), {"source": "imgur", "query": "fish tank", "label": "fish", "target_count": "2"})
    job = ScrapeJob.objects.get()
    assert created == [{"source": "imgur", "query": "fish tank", "label": "fish", "target_count": 2, "base_url": "", "auto_accept_confidence": None, "user": staff}]
    assert (job.source, job.query, job.label, job.target_count, job.created_by) == ("imgur", "fish tank", "fish", 2, staff)
    assert dispatched == [("ingestion.run_scrape_job", job.pk)]


@pytest.mark.django_db(transaction=True)
def test_end_to_end_the_admin_starts_a_real_background_job_and_watches_it_finish(client, site):
    """No mocks: the add form commits, the job runs on the in-process job thread (no broker) against the
    local server, and the progress endpoint the change list polls reports it done."""
    serve_flickr(site)
    client.force_login(get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-for-tests"))
    client.post(
        reverse("admin:ingestion_scrapejob_add"),
        {"source": "flickr", "query": "cat", "label": "cat", "target_count": "4", "base_url": site.base_url},
    )
    # The in-process job thread runs one job at a time, in order: once a no-op queued behind ours has run,
    # ours is finished. (Polling the database meanwhile would race the test's in-memory SQLite for locks.)
    jobs._local_executor(jobs._kind("ingestion.run_scrape_job")).submit(lambda: None).result(timeout=60)
    job = ScrapeJob.objects.get()
    state = client.get(reverse("admin:ingestion_scrapejob_progress"), {"ids": job.pk}).json()["jobs"][0]
    assert (state["status"], state["downloaded"]) == ("done", 4), state
    assert sorted(p.url for p in ScrapedPhoto.objects.all()) == sorted(site.url(path) for path in FLICKR_STORED[:4])


def test_a_running_job_counts_as_abandoned_after_the_stale_setting(settings):
    from datetime import timedelta

    from django.utils import timezone

    from ingestion.selectors import startable_scrape_jobs

    job = ScrapeJob.objects.create(source="flickr", query="cat", label="cat", target_count=2, status=ScrapeJob.Status.RUNNING,
                                   heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert not startable_scrape_jobs(ScrapeJob.objects.all()).exists()  # 5 minutes silent: the 10 by default not reached
    settings.PETSITE_SCRAPE_STALE_SECONDS = 120
    assert list(startable_scrape_jobs(ScrapeJob.objects.all())) == [job]
