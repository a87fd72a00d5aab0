"""Template helpers of the public pages: `percent` (every printed probability), `answer` (what a prediction says),
`inline_code` (the API docs' `code` spans), `tile_columns` (the tile grids' columns) and, for the API docs,
`rate_limits`."""
import re

from django import template
from django.conf import settings
from django.utils.html import escape
from django.utils.safestring import mark_safe

from classifier import selectors

register = template.Library()


@register.filter
def percent(probability):
    """0.87 -> "87%"; never "100%" or "0%": "over 99%" / "under 1%" (a model is never certain).

    The pages' script (static/classifier/petsite.js, `percent`) words it the same way.
    """
    if probability in (None, ""):
        return ""
    value = selectors.percent_points(probability)
    if value >= 100:
        return "over 99%"
    if value <= 0:
        return "under 1%"
    return f"{value}%"


@register.filter
def inline_code(text):
    """Markdown-style `code` spans of a description (the OpenAPI document's text) as <code>, the rest escaped:
    "`status` is `done`" -> "<code>status</code> is <code>done</code>" (the docs page shows no raw backticks)."""
    if text in (None, ""):
        return ""
    parts = re.split(r"`([^`]+)`", str(text))
    html = "".join(f"<code>{escape(part)}</code>" if i % 2 else escape(part).replace("`", "") for i, part in enumerate(parts))
    return mark_safe(html)


@register.simple_tag
def tile_columns(screen="wide"):
    """{% tile_columns %} / {% tile_columns "phone" %}: how many columns the photo tile grids have (base.html's CSS), from
    selectors.TILE_COLUMNS, which also sizes the home page's "Recently classified"."""
    return selectors.PHONE_TILE_COLUMNS if screen == "phone" else selectors.TILE_COLUMNS


@register.simple_tag
def answer(prediction):
    """{% answer prediction as a %}: the selectors.Answer of a prediction, for a grid's tile (so no "borderline",
    which would look up the model's threshold once per tile; the prediction's own page says it)."""
    return selectors.prediction_answer(prediction, with_borderline=False)


def _per(limit, what):
    """((30, 60), "uploads") -> "30 uploads a minute"; ((10, 5), "uploads") -> "10 uploads every 5 seconds"."""
    from petsite.ratelimit import PERIOD_UNITS, period_words

    count, period = limit
    return f"{count} {what} a {period_words(period)}" if period in PERIOD_UNITS else f"{count} {what} every {period_words(period)}"


@register.simple_tag
def rate_limits():
    """The API's rate limits on this server, as an API user reads them (from the settings in force: none by default in
    development, 30 uploads and 600 other requests a minute by default in production). `code` spans: the page renders
    it with inline_code."""
    from petsite.ratelimit import parse_rate

    uploads = parse_rate(settings.PETSITE_RATELIMIT_UPLOAD)
    reads = parse_rate(settings.PETSITE_RATELIMIT_API)
    if uploads is None and reads is None:
        return "This server does not limit how often you call the API."
    upload_words = (f"up to {_per(uploads, 'uploads')} (`POST /api/predictions/`, counted together with the site's upload form)"
                    if uploads else "any number of uploads")
    read_words = (f"up to {_per(reads, 'requests')} that read predictions (`GET /api/predictions/` and `GET /api/predictions/{{id}}/`)"
                  if reads else "any number of requests that read predictions")
    return (f"Each client (IP address) may make {upload_words} and {read_words}. Past that the answer is 429, with a "
            "Retry-After header saying how many seconds to wait.")
