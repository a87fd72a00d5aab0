"""Walk a site's result pages and download photos; no database here (services.py records them)."""
import io
from dataclasses import dataclass

from PIL import Image

from ..hashing import perceptual_hash, sha256_hex
from ..images import ALLOWED_FORMATS, FORMAT_EXTENSIONS, ImageError, open_image
from .fetch import FetchError
from .parsing import parse_results_page

PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
IMAGE_ACCEPT = "image/webp,image/jpeg,image/png;q=0.9,*/*;q=0.5"


class ScrapeError(Exception):
    """Ends a job: the results could not be read. str() is the reason shown to staff."""


class TooSmall(ValueError):
    """A real image, but an icon-sized one."""


@dataclass
class Photo:
    url: str
    data: bytes
    sha256: str
    phash: str
    width: int
    height: int
    extension: str


def iter_result_pages(fetcher, source, query, base_url="", max_pages=50):
    """Yield (page number, page URL, photo URLs not seen on earlier pages) until a page adds nothing.

    A failed page raises ScrapeError, except a 404 after the first page, which is the end of results.
    A first page without any photo means the search found nothing or the markup changed: ScrapeError.
    """
    seen_urls, visited = set(), set()
    url = source.page_url(query, 1, base_url)
    for number in range(1, max_pages + 1):
        try:
            result = fetcher.get(url, accept=PAGE_ACCEPT)
        except FetchError as exc:
            if number > 1 and exc.status == 404:
                return
            raise ScrapeError(f"Could not read {source.display} results page {number}: {exc}") from exc
        visited.update((url, result.url))
        photo_urls, next_url = parse_results_page(result.content, result.url)
        new = [photo_url for photo_url in photo_urls if photo_url not in seen_urls]
        if not new:
            if number == 1:
                raise ScrapeError(
                    f"Found no photos on the first {source.display} results page ({result.url}): "
                    "the search matched nothing or the site changed its page layout."
                )
            return
        seen_urls.update(new)
        yield number, result.url, new
        # A page's own "next" link is the truth; the known URL pattern is the fallback.
        url = next_url if next_url and next_url not in visited else source.page_url(query, number + 1, base_url)


def download_photo(fetcher, url, min_side):
    """Fetch `url` and check it decodes as a photo. Raises FetchError, ImageError or TooSmall."""
    data = fetcher.get(url, accept=IMAGE_ACCEPT).content
    image = open_image(data)
    with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as header:
        width, height, image_format = header.width, header.height, header.format
    if min(width, height) < min_side:
        raise TooSmall(f"{width}x{height} is smaller than {min_side} pixels on a side")
    if image_format not in FORMAT_EXTENSIONS:  # open_image accepted it, so this is only a guard
        raise ImageError(f"Unexpected image format {image_format}.")
    return Photo(url, data, sha256_hex(data), perceptual_hash(image), width, height, FORMAT_EXTENSIONS[image_format])
