"""Template helpers of the public pages: `percent` (every printed probability), `answer` (what a prediction says) and
`inline_code` (the API docs' `code` spans)."""
import math
import re

from django import template
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
    value = math.floor(float(probability) * 100 + 0.5)  # halves round up, as the script's Math.round does
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
def answer(prediction):
    """{% answer prediction as a %}: the selectors.Answer of a prediction, for a grid's tile (so no "borderline",
    which would look up the model's threshold once per tile; the prediction's own page says it)."""
    return selectors.prediction_answer(prediction, with_borderline=False)
