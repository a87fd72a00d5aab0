"""Walk a site's result pages and download photos; no database here (services.py records them)."""
import io
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from PIL import Image

from ..hashing import perceptual_hash, sha256_hex
from ..images import ALLOWED_FORMATS, BROWSER_FORMATS, FORMAT_EXTENSIONS, ImageError, open_image
from .fetch import FetchError
from .parsing import parse_results_page
from .photos import group_photos

PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
IMAGE_ACCEPT = "image/avif,image/webp,image/jpeg,image/png;q=0.9,*/*;q=0.5"
MISSING_STATUSES = {404, 410}
# Where image hosts redirect a photo (or size) they do not have: Imgur's removed.png, Flickr's photo_unavailable.
MISSING_PLACEHOLDER = re.compile(r"(removed|unavailable|not[_-]?found|deleted)[^/]*$", re.IGNORECASE)
# Quality for a photo re-encoded after shrinking it to the size cap.
SHRUNK_QUALITY = 90
# Formats a shrunk photo is saved in again; any other (HEIC, AVIF: slow encoders, not in every build) becomes a JPEG.
REENCODED_FORMATS = ("JPEG", "PNG", "WEBP")
# Formats stored as served: the curation page shows the stored file, so a photo most browsers cannot show (HEIC)
# is stored as a JPEG copy of its upright pixels.
STORED_AS_SERVED = BROWSER_FORMATS


class ScrapeError(Exception):
    """Ends a job: the results could not be read. str() is the reason shown to staff."""


class TooSmall(ValueError):
    """A real image, but an icon-sized one."""


class PhotoMissing(FetchError):
    """The host does not have this photo at this size (404, 410, or a redirect to its placeholder)."""


@dataclass
class Photo:
    url: str
    data: bytes
    sha256: str
    phash: str
    width: int
    height: int
    extension: str


def iter_result_pages(fetcher, source, query, base_url="", max_pages=50, max_side=None):
    """Yield (page number, page URL, PhotoRefs not seen on earlier pages) until a page adds nothing.

    A photo is one PhotoRef however many sizes of it the pages show; its URLs ask for the largest size
    whose long side is within `max_side` (see photos.py).

    A failed page raises ScrapeError, except a 404 after the first page, which is the end of results.
    A first page without any photo means the search found nothing or the markup changed: ScrapeError.
    """
    seen, visited = set(), set()
    url = source.page_url(query, 1, base_url)
    for number in range(1, max_pages + 1):
        try:
            result = fetcher.get(url, accept=PAGE_ACCEPT)
        except FetchError as exc:
            if number > 1 and exc.status == 404:
                return
            raise ScrapeError(f"Could not read {source.display} results page {number}: {exc}") from exc
        visited.update((url, result.url))
        candidates, next_url = parse_results_page(result.content, result.url)
        new = [ref for ref in group_photos(candidates, source.name, max_side) if _identity(ref) not in seen]
        if not new:
            if number == 1:
                raise ScrapeError(
                    f"Found no photos on the first {source.display} results page ({result.url}): "
                    "the search matched nothing or the site changed its page layout."
                )
            return
        seen.update(_identity(ref) for ref in new)
        yield number, result.url, new
        # A page's own "next" link is the truth; the known URL pattern is the fallback.
        url = next_url if next_url and next_url not in visited else source.page_url(query, number + 1, base_url)


def _identity(ref):
    return ref.site_photo_id or ref.urls[0]


def fetch_first_present(fetcher, urls):
    """(URL, bytes) of the first of `urls` the host has; a missing one moves on to the next.

    Raises PhotoMissing when none is there, or the FetchError of any other failure.
    """
    missing = PhotoMissing("No URL to fetch.")
    for url in urls:
        try:
            result = fetcher.get(url, accept=IMAGE_ACCEPT)
        except FetchError as exc:
            if exc.status not in MISSING_STATUSES:
                raise
            missing = PhotoMissing(str(exc), status=exc.status)
            continue
        if result.redirects and MISSING_PLACEHOLDER.search(urlsplit(result.url).path):
            missing = PhotoMissing(f"{url[:200]} redirects to the host's placeholder {result.url[:200]}")
            continue
        return url, result.content
    raise missing


def download_photo(fetcher, urls, min_side, max_side=None):
    """Fetch the first of `urls` the host has and check it decodes as a photo; shrink it to `max_side` (a HEIC photo is
    stored as a JPEG: see STORED_AS_SERVED).

    Raises FetchError (PhotoMissing when no URL is there), ImageError or TooSmall.
    """
    url, data = fetch_first_present(fetcher, urls)
    image = open_image(data)
    with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as header:
        width, height, image_format = header.width, header.height, header.format
    if min(width, height) < min_side:
        raise TooSmall(f"{width}x{height} is smaller than {min_side} pixels on a side")
    if image_format not in FORMAT_EXTENSIONS:  # open_image accepted it, so this is only a guard
        raise ImageError(f"Unexpected image format {image_format}.")
    too_large = max_side and max(width, height) > max_side
    if too_large or image_format not in STORED_AS_SERVED:
        if too_large:  # only an original of unknown size (or a host ignoring the size asked for) gets here
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        image_format = image_format if image_format in REENCODED_FORMATS else "JPEG"
        buffer = io.BytesIO()
        image.save(buffer, format=image_format, **({"quality": SHRUNK_QUALITY} if image_format != "PNG" else {}))
        data = buffer.getvalue()
        width, height = image.size
    return Photo(url, data, sha256_hex(data), perceptual_hash(image), width, height, FORMAT_EXTENSIONS[image_format])
