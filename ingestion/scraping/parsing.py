"""Find photo URLs and the next-page link in a search results page (BeautifulSoup).

Result pages put photos in many places: `src`, `srcset` (every candidate, with its descriptor), lazy-load
attributes (`data-src` and friends), protocol-relative `//host/...` URLs, inline
`background-image: url(...)` styles and JSON inside scripts (with the width and height listed beside a URL).
Each element contributes its candidates, tagged with the element so photos.py can tell which show one picture;
junk (data: URIs, icons, avatars, sprites, logos, tiny images) is dropped and repeats are removed,
keeping document order so a page always yields the same list.
"""
import re
from urllib.parse import urldefrag, urljoin, urlsplit

from bs4 import BeautifulSoup

from ..images import IMAGE_SUFFIXES
from .photos import Candidate

LAZY_ATTRIBUTES = ("data-src", "data-original", "data-lazy-src", "data-lazy", "data-url", "data-full", "src")
SRCSET_ATTRIBUTES = ("data-srcset", "srcset")
PHOTO_EXTENSIONS = tuple(sorted(IMAGE_SUFFIXES))  # the accepted formats' suffixes (ingestion.images)
JUNK_EXTENSIONS = (".svg", ".gif", ".ico", ".bmp")
JUNK_WORDS = re.compile(
    r"(icon|avatar|sprite|logo|emoji|spinner|loader|loading|placeholder|spacer|blank|pixel|badge|transparent)"
)
SMALLEST_HINT = 64  # width/height attributes below this mark an icon, not a photo
BACKGROUND_URL = re.compile(r"background(?:-image)?\s*:[^;]*?url\(\s*(['\"]?)(.+?)\1\s*\)", re.IGNORECASE)
# Photo URLs inside script JSON, possibly with escaped slashes: "https:\/\/live.staticflickr.com\/...jpg"
SCRIPT_URL = re.compile(r"""((?:https?:)?(?:\\?/){2}[^\s"'<>()]+?\.(?:""" + "|".join(s.lstrip(".") for s in PHOTO_EXTENSIONS)
                        + r"""))(?=["'?\s\\])""", re.IGNORECASE)
SRCSET_CANDIDATE = re.compile(r"\s*([^\s,][^\s]*?)(?:\s+(\d+(?:\.\d+)?)([wx]))?\s*(?:,|$)")
# A JSON object's "width": 1024 / "height": "768" (a photo's size entry lists them beside its URL).
JSON_DIMENSION = re.compile(r"""["'](width|height)["']\s*:\s*["']?(\d+)""")
NEXT_TEXT = re.compile(r"^\s*(next|next page|more|older|›|»|→)\s*[›»→]?\s*$", re.IGNORECASE)


def srcset_candidates(srcset):
    """[(url, descriptor number, "w" or "x" or "")] in the order written."""
    return [
        (match.group(1), float(match.group(2)) if match.group(2) else None, match.group(3) or "")
        for match in SRCSET_CANDIDATE.finditer(srcset or "")
        if match.group(1)
    ]


def _is_small_hint(tag):
    sizes = []
    for name in ("width", "height"):
        value = str(tag.get(name, "")).strip().removesuffix("px")
        if value.isdigit():
            sizes.append(int(value))
    return bool(sizes) and max(sizes) < SMALLEST_HINT


def _is_junk_tag(tag):
    marks = " ".join([*tag.get("class", []), tag.get("id", "") or "", tag.get("role", "") or ""]).lower()
    return bool(JUNK_WORDS.search(marks)) or _is_small_hint(tag)


def normalise_url(raw, page_url):
    """Absolute http(s) URL without fragment, or None for data:, javascript: and the like."""
    raw = (raw or "").strip().replace("\\/", "/")
    if not raw or raw.startswith(("data:", "blob:", "javascript:", "about:", "#")):
        return None
    url, _ = urldefrag(urljoin(page_url, raw))
    return url if urlsplit(url).scheme in ("http", "https") else None


def is_junk_url(url):
    path = urlsplit(url).path.lower()
    if path.endswith(JUNK_EXTENSIONS):
        return True
    # The file name and its folder tell icons from photos ("/avatars/u1.jpg", "/sprites/ui.png").
    return bool(JUNK_WORDS.search("/".join(path.rsplit("/", 2)[-2:])))


def _json_dimensions(script, start, end):
    """(width, height) listed in the innermost JSON object around script[start:end], else (None, None)."""
    opening, closing = script.rfind("{", 0, start), script.find("}", end)
    # Only a flat object around the URL: braces closed before it or opened after it belong to other entries.
    if opening < 0 or closing < 0 or "}" in script[opening:start] or "{" in script[end:closing]:
        return None, None
    found = dict(match.groups() for match in JSON_DIMENSION.finditer(script, opening, closing))
    return (int(found["width"]), int(found["height"])) if found.keys() == {"width", "height"} else (None, None)


def _tag_candidates(tag):
    """[[(raw URL, width, height, descriptor)]]: one list per picture the element shows.

    An image's srcset candidates are one picture; each background image and each URL in a script is its own.
    """
    if tag.name == "script":
        script = tag.string or ""
        return [
            [(match.group(1), *_json_dimensions(script, match.start(), match.end()), None)]
            for match in SCRIPT_URL.finditer(script)
        ]
    pictures = []
    if tag.name in ("img", "source"):
        srcset = next(filter(None, (srcset_candidates(tag.get(name)) for name in SRCSET_ATTRIBUTES)), None)
        if srcset:
            pictures.append([(url, number if unit == "w" else None, None, number) for url, number, unit in srcset])
        else:
            # Lazy loaders keep the real URL in data-* and a placeholder in src.
            best = next((tag[name] for name in LAZY_ATTRIBUTES if _usable(tag.get(name))), None)
            if best:
                pictures.append([(best, None, None, None)])
    style = tag.get("style")
    if style:
        pictures.extend([(match.group(2), None, None, None)] for match in BACKGROUND_URL.finditer(style))
    return pictures


def _usable(value):
    url = normalise_url(value, "http://example.invalid/")
    return url is not None and not is_junk_url(url)


def parse_results_page(html, page_url):
    """(photo Candidates in document order, next page URL or None) for one results page (str or bytes)."""
    soup = BeautifulSoup(html, "html.parser")
    return _photo_candidates(soup, page_url), _next_page(soup, page_url)


def _photo_candidates(soup, page_url):
    seen, candidates, group = set(), [], 0
    for tag in soup.find_all(True):
        if tag.name != "script" and _is_junk_tag(tag):
            continue
        for picture in _tag_candidates(tag):
            group += 1
            for raw, width, height, descriptor in picture:
                url = normalise_url(raw, page_url)
                if url is None or url in seen or is_junk_url(url):
                    continue
                if tag.name == "script" and not urlsplit(url).path.lower().endswith(PHOTO_EXTENSIONS):
                    continue
                seen.add(url)
                candidates.append(
                    Candidate(url, group, int(width) if width else None, height, descriptor, shown=tag.name != "script")
                )
    return candidates


def _next_page(soup, page_url):
    """The next results page if the page links one (rel=next or a 'Next' link)."""
    host = urlsplit(page_url).netloc
    candidates = soup.find_all(["link", "a"], rel="next")
    candidates += [
        a for a in soup.find_all("a", href=True)
        if NEXT_TEXT.match(a.get_text(" ", strip=True) or a.get("aria-label", "") or "")
        or "next" in " ".join(a.get("class", [])).lower()
    ]
    for tag in candidates:
        url = normalise_url(tag.get("href"), page_url)
        # Stay on the site: pagination never leads elsewhere.
        if url and url != page_url and urlsplit(url).netloc == host:
            return url
    return None
