"""Template helpers of the public pages: `percent` (every printed probability) and `answer` (what a prediction says)."""
import math

from django import template

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


@register.simple_tag
def answer(prediction):
    """{% answer prediction as a %}: the selectors.Answer of a prediction, for a grid's tile (so no "borderline",
    which would look up the model's threshold once per tile; the prediction's own page says it)."""
    return selectors.prediction_answer(prediction, with_borderline=False)
