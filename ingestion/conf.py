"""Settings for code that also runs without Django (benchmarks, notebooks, the classify CLI before setup).

petsite/settings.py holds every setting's default; `setting()` only supplies a value where Django is not
configured at all. Here, in the lowest app, so that every app can import it.
"""


def setting(name, default):
    """settings.<name>; `default` when Django's settings are not configured (or lack the name)."""
    try:
        from django.conf import settings

        return getattr(settings, name, default)
    except Exception:  # outside Django: reading settings raises ImproperlyConfigured
        return default
