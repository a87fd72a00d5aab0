"""The scraper stores each photo once, at the largest size within the cap, not the result page's thumbnail.

Saved-page stand-ins: a Flickr results page whose tiles are 320 px `_n` images and whose embedded model
data lists every size with its dimensions; an Imgur search page of 160 px `<id>b.jpg` gallery thumbnails,
where the original is at the same id without the size letter.
"""
import importlib
import io
from pathlib import Path

import pytest
from PIL import Image
from werkzeug import Response

from ingestion import services
from ingestion.models import ScrapedPhoto, ScrapeJob
from ingestion.scraping.photos import Candidate, group_photos

from .conftest import pet

pytestmark = pytest.mark.django_db


def sized(name, width, height, fmt="JPEG"):
    """A real photo scaled to exactly width x height, as a site serves one of its sizes."""
    image = Image.open(io.BytesIO(pet(name))).convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def stored_paths():
    return {photo.site_photo_id: "/" + photo.url.split("/", 3)[3] for photo in ScrapedPhoto.objects.all()}


def stored_sizes():
    return {photo.site_photo_id: (photo.width, photo.height) for photo in ScrapedPhoto.objects.all()}


def run(site, source, query="cat", count=50):
    job = services.create_scrape_job(source, query, "cat", count, base_url=site.base_url)
    job = services.run_scrape_job(job.pk)
    assert job.status == ScrapeJob.Status.DONE, job.error
    return job


# Flickr ---------------------------------------------------------------------------------------------------------

TABBY = "/65535/53401000001_a1b2c3d4e5"  # original 2048x1536: listed up to _k (its _h/_k carry another secret)
SMALL = "/65535/53401000002_0f1e2d3c4b"  # original 800x600: listed up to _c, no 1024 size exists
BOXED = "/65535/53401000003_9a8b7c6d5e"  # _b listed, but the server no longer has it
KITTEN = "/65535/53401000004_1122aabbcc"  # in the grid as _n and again in a side strip as _z


def serve_flickr_sizes(site):
    site.page("/search/", "flickr_search_sizes.html", {"text": "cat", "page": "1"})
    site.missing("/search/")  # page 2: past the end
    files = {
        f"{TABBY}_n.jpg": sized("cat_1", 320, 240),
        f"{TABBY}_z.jpg": sized("cat_1", 640, 480),
        f"{TABBY}_b.jpg": sized("cat_1", 1024, 768),
        "/65535/53401000001_f6e5d4c3b2_k.jpg": sized("cat_1", 2048, 1536),
        f"{SMALL}_n.jpg": sized("cat_10", 320, 240),
        f"{SMALL}_c.jpg": sized("cat_10", 800, 600),
        f"{BOXED}_n.jpg": sized("cat_100", 320, 213),
        f"{KITTEN}_n.jpg": sized("cat_102", 320, 240),
        f"{KITTEN}_z.jpg": sized("cat_102", 640, 480),
        f"{KITTEN}_b.jpg": sized("cat_102", 1024, 768),
    }
    for path, data in files.items():
        site.photo(path, data)
    return files


def test_flickr_stores_the_largest_listed_size_within_the_cap_once_per_photo(site):
    files = serve_flickr_sizes(site)
    job = run(site, "flickr")

    assert stored_paths() == {
        "flickr:53401000001": f"{TABBY}_b.jpg",
        "flickr:53401000002": f"{SMALL}_c.jpg",  # its largest size: nothing bigger is asked for
        "flickr:53401000003": f"{BOXED}_n.jpg",  # the listed _b answered 404: the page's own thumbnail instead
        "flickr:53401000004": f"{KITTEN}_b.jpg",
    }
    assert stored_sizes() == {
        "flickr:53401000001": (1024, 768),
        "flickr:53401000002": (800, 600),
        "flickr:53401000003": (320, 213),
        "flickr:53401000004": (1024, 768),
    }
    tabby = ScrapedPhoto.objects.get(site_photo_id="flickr:53401000001")
    assert Path(tabby.file.path).read_bytes() == files[f"{TABBY}_b.jpg"]
    # Four photos, each fetched once; the kitten's second appearance (_z) is the same photo, not a fifth.
    assert (job.found_count, job.downloaded_count, job.skipped_count, job.failed_count) == (4, 4, 0, 0)

    requested = site.requested()
    assert f"{BOXED}_b.jpg" in requested  # tried first, then the fallback
    # Over the cap, smaller than chosen, or not in the page's list of sizes: never asked for.
    never = ["/65535/53401000001_f6e5d4c3b2_k.jpg", f"{TABBY}_n.jpg", f"{TABBY}_z.jpg", f"{SMALL}_b.jpg",
             f"{SMALL}_n.jpg", f"{KITTEN}_n.jpg", f"{KITTEN}_z.jpg"]
    assert not set(never) & set(requested)
    assert not any("buddyicons" in path for path in requested)


@pytest.mark.parametrize(
    ("max_side", "path", "size"),
    [(640, f"{TABBY}_z.jpg", (640, 480)), (1024, f"{TABBY}_b.jpg", (1024, 768)),
     (0, "/65535/53401000001_f6e5d4c3b2_k.jpg", (2048, 1536))],
)
def test_the_size_cap_is_a_setting(site, settings, max_side, path, size):
    settings.PETSITE_SCRAPE_MAX_SIDE = max_side  # 0: no cap
    serve_flickr_sizes(site)
    run(site, "flickr", count=1)
    assert stored_paths() == {"flickr:53401000001": path}
    assert stored_sizes() == {"flickr:53401000001": size}


def test_a_photo_stored_by_one_job_is_not_stored_again_at_another_size(site):
    # Another search shows the tabby again, only as its 640 px tile (no size list): the same Flickr photo id.
    site.server.expect_request("/search/", query_string={"text": "ginger", "page": "1"}).respond_with_data(
        f'<div class="photo-list-photo-view" style="background-image: url(//{site.host}{TABBY}_z.jpg)"></div>',
        content_type="text/html",
    )
    serve_flickr_sizes(site)
    run(site, "flickr")
    before = len(site.requested())

    job = run(site, "flickr", query="ginger")

    assert (job.found_count, job.downloaded_count, job.skipped_count) == (1, 0, 1)
    assert ScrapedPhoto.objects.filter(site_photo_id="flickr:53401000001").count() == 1
    assert not any(path.startswith(TABBY) for path in site.requested()[before:])


# Imgur ----------------------------------------------------------------------------------------------------------


def serve_imgur_thumbnails(site, removed_redirect=True):
    site.page("/search", "imgur_search_thumbnails.html", {"q": "cat"})
    site.page("/search/score/all/page/1", "imgur_search_thumbnails_page2.html", {"scrolled": "", "q": "cat"})
    site.missing("/search/score/all/page/2")
    files = {
        # Gallery thumbnails are 160 px squares; originals are whatever was uploaded.
        "/Kx9vT2p.jpg": sized("cat_1", 900, 675),
        "/Kx9vT2pb.jpg": sized("cat_1", 160, 160),
        "/Kx9vT2pm.jpg": sized("cat_1", 320, 240),
        "/Kx9vT2pl.jpg": sized("cat_1", 640, 480),
        "/Rb4nQ8s.jpg": sized("cat_10", 1600, 1200),  # over the cap: shrunk to 1024 px
        "/Rb4nQ8sb.jpg": sized("cat_10", 160, 160),
        "/Wq2eR5tb.jpg": sized("cat_100", 160, 160),  # no original any more: 404
        "/Pl0kM9nb.jpg": sized("cat_101", 160, 160),  # original redirects to Imgur's "removed" picture
        "/removed.png": sized("cat_105", 161, 81, fmt="PNG"),
        "/Hn5Jk.jpg": sized("cat_102", 700, 525),
        "/Hn5Jkb.jpg": sized("cat_102", 160, 160),
        "/Zy7uI3o.jpg": sized("cat_103", 800, 600),
        "/Zy7uI3ob.jpg": sized("cat_103", 160, 160),
    }
    for path, data in files.items():
        site.photo(path, data)
    site.server.expect_request("/Pl0kM9n.jpg").respond_with_response(
        Response(status=302, headers={"Location": f"{site.base_url}/removed.png"})
    )
    return files


def test_imgur_stores_the_original_not_the_gallery_thumbnail(site):
    files = serve_imgur_thumbnails(site)
    job = run(site, "imgur")

    assert stored_paths() == {
        "imgur:Kx9vT2p": "/Kx9vT2p.jpg",
        "imgur:Rb4nQ8s": "/Rb4nQ8s.jpg",
        "imgur:Wq2eR5t": "/Wq2eR5tb.jpg",  # original 404: the thumbnail is better than nothing
        "imgur:Pl0kM9n": "/Pl0kM9nb.jpg",  # original replaced by the "removed" placeholder: likewise
        "imgur:Hn5Jk": "/Hn5Jk.jpg",
        "imgur:Zy7uI3o": "/Zy7uI3o.jpg",
    }
    assert stored_sizes() == {
        "imgur:Kx9vT2p": (900, 675),
        "imgur:Rb4nQ8s": (1024, 768),
        "imgur:Wq2eR5t": (160, 160),
        "imgur:Pl0kM9n": (160, 160),
        "imgur:Hn5Jk": (700, 525),
        "imgur:Zy7uI3o": (800, 600),
    }
    first = ScrapedPhoto.objects.get(site_photo_id="imgur:Kx9vT2p")
    assert Path(first.file.path).read_bytes() == files["/Kx9vT2p.jpg"]
    shrunk = ScrapedPhoto.objects.get(site_photo_id="imgur:Rb4nQ8s")
    with Image.open(shrunk.file.path) as image:
        assert (image.format, image.size) == ("JPEG", (1024, 768))
    assert shrunk.size_bytes == Path(shrunk.file.path).stat().st_size

    # The first post shows up three times (grid, sidebar, page two) at three sizes: one photo, one download.
    assert (job.found_count, job.downloaded_count, job.skipped_count, job.failed_count) == (6, 6, 0, 0)
    requested = site.requested()
    assert not {"/Kx9vT2pb.jpg", "/Kx9vT2pm.jpg", "/Kx9vT2pl.jpg", "/Rb4nQ8sb.jpg", "/Zy7uI3ob.jpg"} & set(requested)
    assert not any(path.endswith("/removed.png") for path in stored_paths().values())


def test_imgur_under_a_smaller_cap_asks_for_the_matching_thumbnail_size(site, settings):
    settings.PETSITE_SCRAPE_MAX_SIDE = 640
    serve_imgur_thumbnails(site)
    run(site, "imgur", count=1)
    assert stored_paths() == {"imgur:Kx9vT2p": "/Kx9vT2pl.jpg"}
    assert "/Kx9vT2p.jpg" not in site.requested()


def test_a_photo_missing_at_every_size_counts_as_failed(site):
    site.page("/search", "imgur_search_page2.html", {"q": "cat"})  # three posts with l-size thumbnails
    site.missing("/search/score/all/page/1")
    site.photo("/Po9Iu8Yl.jpg", sized("dog_1", 640, 480))
    site.photo("/Lk7Jh6G.jpg", sized("dog_10", 800, 600))
    job = run(site, "imgur")  # aB3dE5f: neither the original nor its thumbnail is there

    assert stored_paths() == {"imgur:Po9Iu8Y": "/Po9Iu8Yl.jpg", "imgur:Lk7Jh6G": "/Lk7Jh6G.jpg"}
    assert (job.downloaded_count, job.failed_count) == (2, 1)
    assert {"/aB3dE5f.jpg", "/aB3dE5fl.jpg"} <= set(site.requested())


# Grouping, without a server --------------------------------------------------------------------------------------


def test_urls_no_site_layout_explains_are_kept_as_found():
    candidates = [
        Candidate("https://cdn.example/p/cat-small.jpg", 1, width=400, descriptor=400),
        Candidate("https://cdn.example/p/cat-large.jpg", 1, width=1600, descriptor=1600),
        Candidate("https://cdn.example/p/cat-medium.jpg", 1, width=900, descriptor=900),
        Candidate("https://cdn.example/p/dog.jpg", 2),
        Candidate("https://cdn.example/p/dog.jpg", 3),  # a <noscript> copy
    ]
    refs = group_photos(candidates, "flickr", 1024)
    assert [(ref.site_photo_id, ref.urls) for ref in refs] == [
        (None, ("https://cdn.example/p/cat-medium.jpg",)),
        (None, ("https://cdn.example/p/dog.jpg",)),
    ]


def test_the_migration_gives_photos_stored_before_it_their_site_photo_id():
    from django.apps import apps

    fill_site_photo_ids = importlib.import_module("ingestion.migrations.0004_scrapedphoto_site_photo_id").fill_site_photo_ids
    job = services.create_scrape_job("flickr", "cat", "cat", 10)
    urls = [
        f"https://live.staticflickr.com{TABBY}_n.jpg",
        f"https://live.staticflickr.com{TABBY}_b.jpg",  # the same photo stored again, at another size, before the fix
        "https://live.staticflickr.com/65535/53401000002_0f1e2d3c4b_c.jpg",
        "https://example.org/cat.jpg",
    ]
    for number, url in enumerate(urls):
        ScrapedPhoto.objects.create(job=job, url=url, query="cat", label="cat", sha256=f"{number:064x}", phash="0" * 16)

    fill_site_photo_ids(apps, None)

    assert list(ScrapedPhoto.objects.order_by("pk").values_list("site_photo_id", flat=True)) == [
        "flickr:53401000001", None, "flickr:53401000002", None,
    ]
