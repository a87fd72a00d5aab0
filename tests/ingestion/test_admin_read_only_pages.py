"""Admin pages with nothing to edit (scrape jobs, dataset versions, scraped photos) offer no save buttons, keep their
own buttons (Resume job, Resume build, Cancel build) and Delete, and say a job's error once."""
import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from ingestion import services
from ingestion.models import DatasetVersion, ScrapedPhoto, ScrapeJob
from petsite.admin_jobs import ReadOnlyPageMixin

pytestmark = pytest.mark.django_db

SAVE_BUTTONS = ('name="_save"', 'name="_continue"', 'name="_addanother"')
ERROR = "Could not read page 2: HTTP 503 from www.flickr.com"


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("staff", "staff@example.com", "pw-for-tests")
    client.force_login(user)
    return user


@pytest.fixture
def dispatched(monkeypatch):
    calls = []
    monkeypatch.setattr(services, "dispatch_on_commit", lambda task, *args: calls.append((task.name, *args)))
    return calls


def assert_read_only(page):
    for button in SAVE_BUTTONS:
        assert button not in page, button
    assert "closelink" in page  # "Close", as on any page there is nothing to save on


def job(**fields):
    return ScrapeJob.objects.create(**{"source": "flickr", "query": "cat", "label": "cat", "target_count": 10, "runs": 1, **fields})


def test_a_failed_scrape_job_page_has_no_save_buttons_says_its_error_once_and_still_resumes(client, staff, dispatched):
    failed = job(status=ScrapeJob.Status.FAILED, error=ERROR, downloaded_count=4)
    url = reverse("admin:ingestion_scrapejob_change", args=[failed.pk])
    page = client.get(url).content.decode()

    assert_read_only(page)
    assert page.count(ERROR) == 1  # under the status and progress, beside Resume job; no "Error" row repeating it
    assert "field-error" not in page and "field-message" not in page
    assert page.index("field-status_tag") < page.index(ERROR) < page.index('name="_start_job" value="Resume job"')
    assert reverse("admin:ingestion_scrapejob_delete", args=[failed.pk]) in page  # deleting stays as it was

    response = client.post(url, {"_start_job": "Resume job"})
    assert response.status_code == 302 and response.url == url
    assert dispatched == [("ingestion.run_scrape_job", failed.pk)]
    assert ScrapeJob.objects.get(pk=failed.pk).status == ScrapeJob.Status.QUEUED


def test_a_done_or_running_scrape_job_page_is_read_only_and_says_its_message_once(client, staff):
    done = job(status=ScrapeJob.Status.DONE, message="Stored 10 photos from 3 pages.", downloaded_count=10)
    page = client.get(reverse("admin:ingestion_scrapejob_change", args=[done.pk])).content.decode()
    assert_read_only(page)
    assert page.count("Stored 10 photos from 3 pages.") == 1 and "_start_job" not in page

    running = job(query="dog", label="dog", status=ScrapeJob.Status.RUNNING, downloaded_count=2)
    page = client.get(reverse("admin:ingestion_scrapejob_change", args=[running.pk])).content.decode()
    assert_read_only(page)
    assert f'data-progress-id="{running.pk}" data-active="1"' in page  # still updates live


def test_the_scrape_job_add_page_keeps_its_save_button(client, staff):
    page = client.get(reverse("admin:ingestion_scrapejob_add")).content.decode()
    assert 'name="_save"' in page and 'name="query"' in page


def test_dataset_version_pages_have_no_save_buttons_but_keep_resume_and_cancel(client, staff):
    interrupted = DatasetVersion.objects.create(name="pets-interrupted", status=DatasetVersion.Status.INTERRUPTED, building=None,
                                                error="Interrupted: its worker stopped.")
    page = client.get(reverse("admin:ingestion_datasetversion_change", args=[interrupted.pk])).content.decode()
    assert_read_only(page)
    assert 'name="_resume_build"' in page and page.count("Interrupted: its worker stopped.") == 1

    building = DatasetVersion.objects.create(name="pets-building", status=DatasetVersion.Status.RUNNING)
    url = reverse("admin:ingestion_datasetversion_change", args=[building.pk])
    page = client.get(url).content.decode()
    assert_read_only(page)
    assert 'name="_cancel_build"' in page
    response = client.post(url, {"_cancel_build": "Cancel build"})
    assert response.status_code == 302 and DatasetVersion.objects.get(pk=building.pk).cancel_requested


def test_a_dataset_version_page_shows_its_build_time_rounded(client, staff):
    built = DatasetVersion.objects.create(name="pets-built", status=DatasetVersion.Status.BUILT, building=None,
                                          build_seconds=17.210416242)
    page = client.get(reverse("admin:ingestion_datasetversion_change", args=[built.pk])).content.decode()
    assert "17.2 s" in page and "17.21041" not in page
    queued = DatasetVersion.objects.create(name="pets-queued", status=DatasetVersion.Status.QUEUED)
    page = client.get(reverse("admin:ingestion_datasetversion_change", args=[queued.pk])).content.decode()
    assert "Build time" in page and " s</div>" not in page


def test_a_dataset_version_page_lists_its_folders_and_sources_in_words(client, staff):
    built = DatasetVersion.objects.create(
        name="pets-words", status=DatasetVersion.Status.BUILT, building=None, folders=["/data/pets", "/data/pets-home"],
        extra_sources=["classifier.selectors.reviewed_photos_for_dataset",
                       "ingestion.selectors.accepted_scraped_photos_for_dataset"],
    )
    page = client.get(reverse("admin:ingestion_datasetversion_change", args=[built.pk])).content.decode()
    assert "<code>/data/pets</code><br><code>/data/pets-home</code>" in page and '["/data/pets"' not in page
    assert '<span title="classifier.selectors.reviewed_photos_for_dataset">reviewed photos</span>, ' in page
    assert '>accepted scraped photos</span>' in page


def test_starting_a_build_with_save_and_continue_opens_its_page(client, staff, dispatched, tmp_path):
    (tmp_path / "pets" / "cat").mkdir(parents=True)
    response = client.post(reverse("admin:ingestion_datasetversion_add"),
                           {"name": "pets-continue", "folders_text": str(tmp_path / "pets"), "frame": "", "_continue": "1"})
    version = DatasetVersion.objects.get(name="pets-continue")
    assert response.status_code == 302
    assert response.url == reverse("admin:ingestion_datasetversion_change", args=[version.pk])
    DatasetVersion.objects.filter(pk=version.pk).update(status=DatasetVersion.Status.BUILT, building=None)  # one at a time
    response = client.post(reverse("admin:ingestion_datasetversion_add"),
                           {"name": "pets-plain", "folders_text": str(tmp_path / "pets"), "frame": ""})
    assert response.status_code == 302 and response.url == reverse("admin:ingestion_datasetversion_changelist")


def test_a_scraped_photo_page_has_no_save_buttons(client, staff):
    photo = ScrapedPhoto.objects.create(url="https://example.com/a.jpg", query="cat", label="cat", sha256="a" * 64,
                                        phash="0" * 16, file="scraped/cat/a.jpg")
    page = client.get(reverse("admin:ingestion_scrapedphoto_change", args=[photo.pk])).content.decode()
    assert_read_only(page)
    assert reverse("admin:ingestion_scrapedphoto_delete", args=[photo.pk]) in page


def test_a_page_with_something_editable_keeps_its_save_buttons(rf, staff):
    """The mixin hides the buttons only where every field is read-only."""

    class PartlyEditableJobAdmin(ReadOnlyPageMixin, admin.ModelAdmin):
        fields = ("query", "status")
        readonly_fields = ("status",)

    class ReadOnlyJobAdmin(ReadOnlyPageMixin, admin.ModelAdmin):
        fields = readonly_fields = ("query", "status")

    scrape_job = job(status=ScrapeJob.Status.DONE)

    def page(admin_class):
        request = rf.get("/")
        request.user = staff
        return admin_class(ScrapeJob, admin.site).change_view(request, str(scrape_job.pk)).render().content.decode()

    editable = page(PartlyEditableJobAdmin)
    assert 'name="query"' in editable
    for button in SAVE_BUTTONS:
        assert button in editable, button
    assert_read_only(page(ReadOnlyJobAdmin))
