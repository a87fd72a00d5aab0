import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def fresh_rate_limits(settings):
    """Each test starts with empty rate-limit counters and limits off unless it sets them."""
    settings.PETSITE_RATELIMIT_UPLOAD = "0"
    settings.PETSITE_RATELIMIT_API = "0"
    cache.clear()
    yield
    cache.clear()
