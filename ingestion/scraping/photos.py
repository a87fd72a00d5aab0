"""Which photo an image URL shows, and which size of it to ask for.

Result pages show small tiles: Flickr's 320 px `<id>_<secret>_n.jpg`, Imgur's 160 px `<id>b.jpg`. Both
sites serve the same photo at other sizes under URLs that differ only in a size suffix, and Flickr pages
also list a photo's sizes (with their pixel dimensions) in the JSON they embed. So the URLs a page offers
for one photo are grouped by the site's photo id, larger sizes are derived from them, and the scraper asks
for the largest one whose long side is within the cap, falling back to a size the page showed (known to
exist) when that one is missing. A page that lists a photo's sizes with their dimensions is taken at its word:
nothing is derived beyond its list. The photo id also lets a photo be stored once, whatever size it was seen at.
URLs a site's layout does not explain are kept as they were found: the element's largest candidate.
"""
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit


@dataclass(frozen=True)
class Candidate:
    """One image URL found on a page, with what the page says about its size."""

    url: str
    group: int  # the page element (or script entry) it came from: candidates of one element show one picture
    width: int | None = None
    height: int | None = None
    descriptor: float | None = None  # srcset "640w" or "2x"; only compares candidates of one element
    shown: bool = True  # displayed by the page's markup; False for a URL only listed in a script's data


@dataclass(frozen=True)
class PhotoRef:
    """A photo to fetch: its id on the site (None when unknown) and the URLs to try, best first."""

    site_photo_id: str | None
    urls: tuple[str, ...]


@dataclass(frozen=True)
class _Size:
    url: str
    long_side: int  # pixels, as the page or the size suffix says
    # Among equal sizes: one the page offered (it exists) > the original > one derived from a suffix.
    preference: int
    shown: bool = False


OFFERED, ORIGINAL, DERIVED = 2, 1, 0


class SiteLayout:
    """How one site names the sizes of a photo. Subclasses fill in the class attributes and `_parse`."""

    name = ""
    # Size suffix -> longest side in pixels ("" is the site's default size).
    sizes: dict[str, int] = {}
    # Suffixes that can be derived from a URL of the photo with one of these suffixes (Flickr's larger sizes
    # carry another secret, so only its small ones can be derived, and only from each other).
    derivable: tuple[str, ...] = ()
    # Whether the suffix-less URL is the original upload, of unknown size. It counts as large as the largest
    # named size: asked for when the cap allows that, and shrunk by the scraper if it is larger than the cap.
    bare_is_original = False

    def _parse(self, path):
        """(photo id, URL path with {size} where the suffix goes, suffix) or None."""
        raise NotImplementedError

    def photo_id(self, url):
        parsed = self._parse(urlsplit(url).path)
        return f"{self.name}:{parsed[0]}" if parsed else None

    def _is_original(self, suffix):
        return suffix == "" and self.bare_is_original

    def _named_long_side(self, suffix):
        return max(self.sizes.values()) if self._is_original(suffix) else self.sizes.get(suffix, 0)

    def sizes_of(self, candidates):
        """Every size of one photo: those the page offered, then those derived from them."""
        found, template = {}, None
        for candidate in candidates:
            _photo, path_template, suffix = self._parse(urlsplit(candidate.url).path)
            if candidate.width and candidate.height:
                long_side = max(candidate.width, candidate.height)
            else:
                long_side = self._named_long_side(suffix) or candidate.width or 0
            found.setdefault(candidate.url, _Size(candidate.url, long_side, OFFERED, candidate.shown))
            if template is None and (suffix in self.derivable or self._is_original(suffix)):
                template = urlsplit(candidate.url), path_template
        listed = any(candidate.width and candidate.height for candidate in candidates)
        if template is not None and not listed:
            parts, path_template = template
            for suffix in self.derivable:
                path = path_template.format(size=self._suffix(suffix))
                url = urlunsplit(parts._replace(path=path, query="", fragment=""))
                kind = ORIGINAL if self._is_original(suffix) else DERIVED
                found.setdefault(url, _Size(url, self._named_long_side(suffix), kind))
        return list(found.values())

    def _suffix(self, suffix):
        return suffix


class FlickrLayout(SiteLayout):
    """live.staticflickr.com/<server>/<id>_<secret>[_<size>].jpg; sizes up to b (1024) share the secret."""

    name = "flickr"
    sizes = {"s": 75, "q": 150, "t": 100, "m": 240, "n": 320, "w": 400, "": 500, "z": 640, "c": 800, "b": 1024,
             "h": 1600, "k": 2048, "3k": 3072, "4k": 4096, "f": 4096, "5k": 5120, "6k": 6144}
    derivable = ("s", "q", "t", "m", "n", "w", "", "z", "c", "b")
    PATH = re.compile(r"^(?P<head>.*/\d+/(?P<id>\d+)_[0-9A-Za-z]+)(?:_(?P<size>[0-9a-z]+))?(?P<ext>\.(?:jpe?g|png|webp|avif))$")

    def _parse(self, path):
        match = self.PATH.match(path)
        if match is None:
            return None
        return match["id"], match["head"] + "{size}" + match["ext"], match["size"] or ""

    def _suffix(self, suffix):
        return f"_{suffix}" if suffix else ""


class ImgurLayout(SiteLayout):
    """i.imgur.com/<id>[<size letter>].jpg; ids are 5 or 7 characters; without a letter, the original."""

    name = "imgur"
    sizes = {"s": 90, "b": 160, "t": 160, "m": 320, "l": 640, "h": 1024}
    derivable = ("s", "b", "t", "m", "l", "h", "")
    bare_is_original = True
    PATH = re.compile(r"^/(?P<stem>[0-9A-Za-z]{5,8})(?P<ext>\.(?:jpe?g|png|webp|avif))$")

    def _parse(self, path):
        match = self.PATH.match(path)
        if match is None:
            return None
        stem = match["stem"]
        if len(stem) in (5, 7):
            photo, size = stem, ""
        elif stem[-1] in self.sizes:
            photo, size = stem[:-1], stem[-1]
        else:
            return None
        return photo, "/" + photo + "{size}" + match["ext"], size


LAYOUTS = {layout.name: layout for layout in (FlickrLayout(), ImgurLayout())}


def _largest_within(sizes, max_side):
    """The largest of `sizes` within the cap; the smallest if all are over it (the scraper shrinks it)."""
    fitting = [size for size in sizes if size.long_side <= max_side] or [min(sizes, key=lambda size: size.long_side)]
    return max(fitting, key=lambda size: (size.long_side, size.preference))


def _choose(sizes, max_side):
    """URLs to try: the largest size within the cap, then the thumbnail the page displayed.

    The displayed thumbnail is known to exist, so it stands in for a larger size that turns out to be missing.
    """
    best = _largest_within(sizes, max_side)
    shown = [size for size in sizes if size.shown]
    fallback = _largest_within(shown, max_side) if shown else best
    return (best.url,) if best.url == fallback.url else (best.url, fallback.url)


def _best_unknown(candidates, max_side):
    """For a URL no layout explains: the element's largest candidate within the cap (by srcset width)."""
    widths = [candidate for candidate in candidates if candidate.width]
    fitting = [candidate for candidate in widths if candidate.width <= max_side]
    if fitting:
        return max(fitting, key=lambda candidate: candidate.width)
    if widths and len(widths) == len(candidates):
        return min(widths, key=lambda candidate: candidate.width)
    best = candidates[0]
    for candidate in candidates[1:]:
        if (candidate.descriptor or 1) > (best.descriptor or 1):
            best = candidate
    return best


def group_photos(candidates, source_name, max_side):
    """One PhotoRef per photo in `candidates` (a page's, in document order), in order of first appearance.

    `max_side` caps the long side asked for; 0 or None means no cap.
    """
    layout = LAYOUTS.get(source_name)
    max_side = max_side or float("inf")
    groups = {}  # key -> candidates; a site photo id, or the element for URLs the layout does not explain
    for candidate in candidates:
        photo_id = layout.photo_id(candidate.url) if layout else None
        groups.setdefault(photo_id or ("element", candidate.group), []).append(candidate)
    refs, seen_urls = [], set()
    for key, members in groups.items():
        if isinstance(key, str):
            refs.append(PhotoRef(key, _choose(layout.sizes_of(members), max_side)))
            continue
        url = _best_unknown(members, max_side).url
        if url not in seen_urls:  # the same URL in two elements (a <noscript> copy) is one photo
            seen_urls.add(url)
            refs.append(PhotoRef(None, (url,)))
    return refs
