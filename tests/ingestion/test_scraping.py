"""Scrape jobs against a local stand-in for Flickr and Imgur serving real photos."""
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from PIL import Image
from werkzeug import Response

from ingestion import services
from ingestion.hashing import hamming
from ingestion.models import ScrapedPhoto, ScrapeJob

from tests.conftest import PETS

from .conftest import FLICKR_DEAD, FLICKR_STORED, pet, reencoded, serve_flickr

pytestmark = pytest.mark.django_db


def flickr_job(site, count=100, label="cat"):
    return services.create_scrape_job("flickr", "cat", label, count, base_url=site.base_url)


def stored_paths(job=None):
    photos = ScrapedPhoto.objects.order_by("pk")
    if job is not None:
        photos = photos.filter(job=job)
    return [urlsplit(photo.url).path for photo in photos]


def test_flickr_job_stores_exactly_the_new_photos(site):
    serve_flickr(site)
    job = services.run_scrape_job(flickr_job(site).pk)

    assert job.status == ScrapeJob.Status.DONE, job.error
    assert stored_paths() == FLICKR_STORED
    assert (job.found_count, job.downloaded_count, job.skipped_count, job.failed_count) == (11, 7, 3, 1)
    assert job.pages_count == 2
    assert "ran out after 2 page(s)" in job.message

    # Junk was never even requested; the largest srcset candidate was, the smaller ones were not.
    requested = set(site.requested())
    assert not any(word in path for path in requested for word in ("buddyicon", "sprite", "logo", "spinner", "apple-touch"))
    assert "/65535/5100003_cccc3333_m.jpg" not in requested and "/65535/5100003_cccc3333_n.jpg" not in requested
    assert FLICKR_DEAD in requested

    # Files live under MEDIA_ROOT/scraped/<label>/, byte-identical to what was served, with their hashes.
    first = ScrapedPhoto.objects.get(url=site.url(FLICKR_STORED[0]))
    path = Path(first.file.path)
    assert path.parent == Path(settings.MEDIA_ROOT) / "scraped" / "cat"
    assert path.read_bytes() == pet("cat_1")
    assert (first.label, first.query, first.width, first.height) == ("cat", "cat", 199, 200)
    assert len(first.sha256) == 64 and len(first.phash) == 16
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(Path(p.file.name).name for p in ScrapedPhoto.objects.all())


def test_target_count_stops_the_job_early(site):
    serve_flickr(site)
    job = services.run_scrape_job(flickr_job(site, count=3).pk)

    assert job.status == ScrapeJob.Status.DONE
    assert stored_paths() == FLICKR_STORED[:3]
    assert "/65535/5100004_dddd4444_n.jpg" not in site.requested()
    assert job.progress()["percent"] == 100


def test_imgur_layouts_and_formats(site):
    photos = {
        "/aB3dE5fl.jpg": (pet("dog_1"), "image/jpeg"),
        "/Qw7Er9Tl.webp": (reencoded("dog_10", scale=1, fmt="WEBP", quality=85), "image/webp"),
        "/Qw7Er9Tm.jpg": (reencoded("dog_10", scale=0.7), "image/jpeg"),  # the same post's JPEG thumbnail: never fetched
        "/Zx1Cv3Bl.png": (reencoded("dog_100", scale=1, fmt="PNG"), "image/png"),
        "/Mn4Bv6Cl.jpg": (pet("dog_101"), "image/jpeg"),
        "/Po9Iu8Yl.jpg": (pet("dog_102"), "image/jpeg"),
        "/Lk7Jh6Gl.jpg": (pet("dog_103"), "image/jpeg"),
    }
    site.page("/search", "imgur_search_page1.html", {"q": "cat"})
    site.page("/search/score/all/page/1", "imgur_search_page2.html", {"scrolled": "", "q": "cat"})
    site.missing("/search/score/all/page/2")
    for path, (data, content_type) in photos.items():
        site.photo(path, data, content_type)

    job = services.create_scrape_job("imgur", "cat", "dog", 50, base_url=site.base_url)
    job = services.run_scrape_job(job.pk)

    assert job.status == ScrapeJob.Status.DONE, job.error
    assert stored_paths() == ["/aB3dE5fl.jpg", "/Qw7Er9Tl.webp", "/Zx1Cv3Bl.png", "/Mn4Bv6Cl.jpg", "/Po9Iu8Yl.jpg", "/Lk7Jh6Gl.jpg"]
    # One photo per post: the smaller sizes of Qw7Er9T are the same Imgur id, so they are not downloaded at all.
    assert (job.found_count, job.downloaded_count, job.skipped_count, job.failed_count) == (6, 6, 0, 0)
    assert "/Qw7Er9Tm.jpg" not in site.requested() and "/Qw7Er9Tm.webp" not in site.requested()
    names = sorted(Path(p.file.name).suffix for p in ScrapedPhoto.objects.all())
    assert names == [".jpg", ".jpg", ".jpg", ".jpg", ".png", ".webp"]
    assert not any("avatar" in p or "emoji" in p or "loader" in p or "logo" in p for p in site.requested())


def test_heic_and_avif_photos_are_stored(site):
    avif = reencoded("dog_104", scale=1, fmt="AVIF")
    site.server.expect_request("/search", query_string={"q": "dog"}).respond_with_data(
        '<div class="cards">'
        f'<a href="/gallery/Av1fA2B"><img alt="" src="//{site.host}/Av1fA2Bl.avif"></a>'
        f'<a href="/gallery/iphone"><img alt="" src="//{site.host}/uploads/IMG_0042.HEIC"></a>'
        "</div>",
        content_type="text/html; charset=utf-8",
    )
    site.missing("/search/score/all/page/1")
    site.photo("/Av1fA2Bl.avif", avif, "image/avif")
    site.photo("/uploads/IMG_0042.HEIC", reencoded("dog_105", scale=1, fmt="HEIF"), "image/heic")

    job = services.run_scrape_job(services.create_scrape_job("imgur", "dog", "dog", 10, base_url=site.base_url).pk)

    assert job.status == ScrapeJob.Status.DONE, job.error
    assert (job.downloaded_count, job.failed_count) == (2, 0)
    photos = {urlsplit(photo.url).path: photo for photo in ScrapedPhoto.objects.all()}
    assert Path(photos["/Av1fA2Bl.avif"].file.name).suffix == ".avif"
    assert Path(photos["/Av1fA2Bl.avif"].file.path).read_bytes() == avif  # stored as served: browsers show AVIF
    # HEIC, which the curation page could not show outside Safari, is stored as a JPEG of the same picture.
    heic = photos["/uploads/IMG_0042.HEIC"]
    assert Path(heic.file.name).suffix == ".jpg"
    with Image.open(heic.file.path) as stored, Image.open(PETS / "dog" / "dog_105.jpg") as original:
        assert (stored.format, stored.size) == ("JPEG", original.size) == ("JPEG", (heic.width, heic.height))
    assert all(photo.predicted_label for photo in photos.values())  # scored by the live model when stored


def test_near_duplicates_are_refused_across_classes(site):
    serve_flickr(site)
    services.run_scrape_job(flickr_job(site, count=1).pk)  # stores cat_1 as a cat
    site.photo("/other/dog-photo.jpg", reencoded("cat_1", scale=0.8))
    site.server.expect_request("/search/", query_string={"text": "dog", "page": "1"}).respond_with_data(
        f'<div><img src="//{site.host}/other/dog-photo.jpg"></div>', content_type="text/html"
    )
    site.missing("/search/")  # page 2: past the end
    job = services.create_scrape_job("flickr", "dog", "dog", 5, base_url=site.base_url)
    job = services.run_scrape_job(job.pk)

    assert job.status == ScrapeJob.Status.DONE
    assert (job.downloaded_count, job.skipped_count) == (0, 1)
    assert not ScrapedPhoto.objects.filter(label="dog").exists()


def test_a_500_fails_the_job_readably_keeps_photos_and_resume_finishes(site, monkeypatch):
    broken = {"page2": True}

    def page2(request):
        if broken["page2"]:
            return Response("Internal Server Error", status=500)
        return Response(site.render("flickr_search_page2.html"), content_type="text/html")

    serve_flickr(site, page2=page2)
    job = services.run_scrape_job(flickr_job(site).pk)

    assert job.status == ScrapeJob.Status.FAILED
    assert "Could not read Flickr results page 2" in job.error and "500" in job.error
    assert job.finished_at is not None
    assert stored_paths() == FLICKR_STORED[:4]  # page 1's photos are kept
    assert all(Path(photo.file.path).exists() for photo in ScrapedPhoto.objects.all())

    # Resume (what the admin action does): queue it again, then the task runs it.
    dispatched = []
    monkeypatch.setattr(services, "dispatch_on_commit", lambda task, *args: dispatched.append((task.name, args)))
    assert services.start_scrape_jobs(ScrapeJob.objects.filter(pk=job.pk)) == [job.pk]
    assert dispatched == [("ingestion.run_scrape_job", (job.pk,))]
    broken["page2"] = False
    job = services.run_scrape_job(job.pk)

    assert job.status == ScrapeJob.Status.DONE, job.error
    assert (job.runs, job.downloaded_count, job.error) == (2, 7, "")
    assert stored_paths(job) == FLICKR_STORED
    # Nothing stored on the first run was downloaded again.
    assert site.requested().count(FLICKR_STORED[0]) == 1


def test_dead_server_fails_the_job_cleanly():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    job = services.create_scrape_job("imgur", "cat", "cat", 10, base_url=f"http://localhost:{port}")
    job = services.run_scrape_job(job.pk)

    assert job.status == ScrapeJob.Status.FAILED
    assert job.error.startswith("Could not read Imgur results page 1: Could not connect to localhost")
    assert "refused" in job.error.lower()
    assert job.downloaded_count == 0


def test_changed_markup_fails_the_job(site):
    site.server.expect_request("/search/").respond_with_data("<html><body><p>New shiny app!</p></body></html>", content_type="text/html")
    job = services.run_scrape_job(flickr_job(site).pk)
    assert job.status == ScrapeJob.Status.FAILED
    assert "changed its page layout" in job.error


def test_loopback_is_refused_without_the_allow_setting(site, settings):
    settings.PETSITE_SCRAPE_ALLOWED_HOSTS = []
    serve_flickr(site)
    job = services.run_scrape_job(flickr_job(site).pk)

    assert job.status == ScrapeJob.Status.FAILED
    assert "non-public address" in job.error and "PETSITE_SCRAPE_ALLOWED_HOSTS" in job.error
    assert site.requested() == []


def test_redirect_to_a_private_address_is_refused(site):
    site.server.expect_request("/search/").respond_with_data(
        f'<img src="//{site.host}/go/photo.jpg"><img src="//{site.host}/65535/5100002_bbbb2222_n.jpg">', content_type="text/html"
    )
    # An allowed host redirecting to an address that is not allowed.
    site.server.expect_request("/go/photo.jpg").respond_with_response(
        Response(status=302, headers={"Location": f"http://127.0.0.1:{site.server.port}/secret/photo.jpg"})
    )
    site.photo("/secret/photo.jpg", pet("cat_1"))
    site.photo("/65535/5100002_bbbb2222_n.jpg", pet("cat_10"))
    job = services.run_scrape_job(flickr_job(site).pk)

    assert "/secret/photo.jpg" not in site.requested()
    assert (job.status, job.failed_count, job.downloaded_count) == (ScrapeJob.Status.DONE, 1, 1)


def test_a_job_is_not_run_twice(site):
    serve_flickr(site)
    job = flickr_job(site, count=1)
    services.run_scrape_job(job.pk)
    before = len(site.requested())
    again = services.run_scrape_job(job.pk)  # a duplicate delivery of the task
    assert again.runs == 1 and len(site.requested()) == before


def test_scrape_command_runs_a_job_with_a_progress_bar(site, capsys):
    serve_flickr(site)
    call_command("scrape", "--source", "flickr", "--query", "cat", "--label", "cat", "--count", "2", "--base-url", site.base_url)
    out, err = capsys.readouterr()
    assert "done; found 2, downloaded 2" in out
    assert "2/2" in err  # tqdm
    assert stored_paths() == FLICKR_STORED[:2]


def test_scrape_command_reports_failure_and_how_to_resume(site, settings):
    settings.PETSITE_SCRAPE_ALLOWED_HOSTS = []
    with pytest.raises(CommandError, match=r"failed.*non-public address.*--resume \d+"):
        call_command("scrape", "--source", "imgur", "--query", "cat", "--label", "cat", "--base-url", site.base_url, verbosity=0)


def test_stored_hashes_match_the_photos(site):
    serve_flickr(site)
    services.run_scrape_job(flickr_job(site, count=2).pk)
    one, two = ScrapedPhoto.objects.order_by("pk")
    assert hamming(one.phash, two.phash) > settings.PETSITE_NEAR_DUPLICATE_DISTANCE


def test_staff_can_cancel_a_running_job_which_keeps_its_photos_and_resumes(site, monkeypatch):
    serve_flickr(site)
    job = flickr_job(site)

    def cancel_after_two(current):
        if current.downloaded_count == 2:
            services.cancel_scrape_jobs(ScrapeJob.objects.filter(pk=current.pk))

    job = services.run_scrape_job(job.pk, progress=cancel_after_two)
    assert job.status == ScrapeJob.Status.FAILED and "Cancelled by staff after storing 2 photos" in job.error
    assert stored_paths() == FLICKR_STORED[:2]

    monkeypatch.setattr(services, "dispatch_on_commit", lambda task, *args: None)
    assert services.start_scrape_jobs(ScrapeJob.objects.filter(pk=job.pk)) == [job.pk]
    job = services.run_scrape_job(job.pk)
    assert job.status == ScrapeJob.Status.DONE, job.error
    assert stored_paths(job) == FLICKR_STORED
