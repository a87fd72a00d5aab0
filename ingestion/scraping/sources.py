"""The sites the scraper knows: how to build the URL of result page n for a query."""
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings


@dataclass(frozen=True)
class Source:
    name: str
    display: str
    base_url_setting: str

    def base_url(self, override=""):
        return (override or getattr(settings, self.base_url_setting)).rstrip("/")

    def page_url(self, query, page, base_url=""):
        base = self.base_url(base_url)
        if self.name == "flickr":
            return f"{base}/search/?{urlencode({'text': query, 'page': page})}"
        if page == 1:
            return f"{base}/search?{urlencode({'q': query})}"
        # Imgur's infinite scroll loads further results from this path (pages counted from 0).
        return f"{base}/search/score/all/page/{page - 1}?{urlencode({'scrolled': '', 'q': query})}"


SOURCES = {
    "flickr": Source("flickr", "Flickr", "PETSITE_FLICKR_BASE_URL"),
    "imgur": Source("imgur", "Imgur", "PETSITE_IMGUR_BASE_URL"),
}


def get_source(name):
    try:
        return SOURCES[name]
    except KeyError:
        raise ValueError(f"Unknown source {name!r}; choose one of {', '.join(SOURCES)}.") from None
