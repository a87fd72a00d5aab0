"""Per-client rate limits on a fixed window, counted in the default cache.

The cache is Redis when configured (shared by every web process), local memory otherwise.
If the cache is unreachable the limiter fails open: a broken cache must not take uploads down.
"""
import functools
import logging
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse

logger = logging.getLogger(__name__)
PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]*)\s*$")


PERIOD_UNITS = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}


def period_words(period):
    """60 -> "minute", 5 -> "5 seconds": a rate's period as the pages word it."""
    return PERIOD_UNITS.get(period, f"{period} seconds")


@dataclass
class RateLimited:
    scope: str
    limit: int
    period: int
    retry_after: int

    @property
    def message(self):
        period = period_words(self.period)
        what = "uploads" if self.scope == "upload" else "requests"
        return (
            f"Too many {what} from your address: the limit is {self.limit} per {period}. "
            f"Please try again in {self.retry_after} second{'s' if self.retry_after != 1 else ''}."
        )


def parse_rate(rate):
    """'30/m' -> (30, 60); '10/5s' -> (10, 5); '' or '0' or '0/m' -> None (no limit)."""
    if rate in (None, "", "0"):
        return None
    match = _RATE.match(str(rate).lower())
    if not match:
        raise ValueError(f"Bad rate {rate!r}; use COUNT/PERIOD such as 30/m")
    count, multiplier, unit = int(match.group(1)), int(match.group(2) or 1), match.group(3) or "s"
    if unit not in PERIODS:
        raise ValueError(f"Bad rate period in {rate!r}; use s, m, h or d")
    if count == 0:
        return None
    return count, multiplier * PERIODS[unit]


def client_address(request):
    if settings.PETSITE_RATELIMIT_TRUST_X_FORWARDED_FOR:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR", "unknown")


def check_rate(request, scope, rate):
    """Count this request against `scope` for its client; return RateLimited when over the limit, else None."""
    parsed = parse_rate(rate)
    if parsed is None:
        return None
    limit, period = parsed
    now = time.time()
    window = int(now // period)
    key = f"ratelimit:{scope}:{client_address(request)}:{period}:{window}"
    try:
        cache.add(key, 0, timeout=period + 1)
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        count = 1
        try:
            cache.set(key, 1, timeout=period + 1)
        except Exception as exc:
            logger.warning("rate-limit cache unavailable (%s); allowing the request", exc)
    except Exception as exc:
        logger.warning("rate-limit cache unavailable (%s); allowing the request", exc)
        return None
    if count > limit:
        retry_after = max(1, int((window + 1) * period - now + 0.999))
        return RateLimited(scope, limit, period, retry_after)
    return None


def json_rate_limited(limited):
    response = JsonResponse({"error": limited.message}, status=429)
    response["Retry-After"] = str(limited.retry_after)
    return response


def rate_limit_json(scope, setting):
    """Decorator for JSON endpoints: answer 429 with a clear message when the client is over `settings.<setting>`."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            limited = check_rate(request, scope, getattr(settings, setting))
            if limited:
                return json_rate_limited(limited)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
