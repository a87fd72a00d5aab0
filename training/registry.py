"""Which model serves: the active ModelVersion in the database, else the shipped default model file.

The shipped model is described by a JSON card beside it (`model.json`), so the CLI can classify
with no database at all.
"""
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from ingestion.labels import CLASSES

logger = logging.getLogger(__name__)


class NoModelAvailable(RuntimeError):
    """No trained model can be found; the site says so instead of failing."""


@dataclass(frozen=True)
class ModelSpec:
    version: str
    path: Path
    classes: tuple
    input_size: int
    unknown_threshold: float | None = None


def card_path(model_path):
    return Path(model_path).with_suffix(".json")


def read_card(model_path):
    path = card_path(model_path)
    return json.loads(path.read_text()) if path.exists() else {}


def spec_from_file(model_path):
    model_path = Path(model_path)
    if not model_path.exists():
        raise NoModelAvailable(f"No model file at {model_path}. Train one with `python manage.py train` or set PETSITE_MODEL_PATH.")
    card = read_card(model_path)
    return ModelSpec(
        version=card.get("version", model_path.stem),
        path=model_path,
        classes=tuple(card.get("classes", CLASSES)),
        input_size=int(card.get("input_size", 224)),
        unknown_threshold=card.get("unknown_threshold"),
    )


def active_version():
    from training.models import ModelVersion

    return ModelVersion.objects.filter(is_active=True).first()


def active_spec(use_database=True):
    """The spec of the model that should serve now."""
    if use_database:
        try:
            version = active_version()
        except DatabaseError:
            # No database (the CLI on a fresh checkout) or it is down: fall back to the shipped file.
            version = None
        if version is not None:
            if version.resolved_path.exists():
                return version.spec()
            # A moved checkout or a deleted file must not stop the site: say so loudly, serve the shipped model.
            logger.error("active model %s has no file at %s; serving the shipped model instead", version.name, version.resolved_path)
    return spec_from_file(settings.PETSITE_MODEL_PATH)


def activate(version):
    """Make `version` the only active ModelVersion; workers pick it up on their next task."""
    from training.models import ModelVersion

    if not version.resolved_path.exists():
        raise NoModelAvailable(f"Model file {version.resolved_path} is missing; cannot activate {version.name}.")
    with transaction.atomic():
        # Lock the active row so two concurrent activations queue up instead of tripping the one-active constraint.
        list(ModelVersion.objects.select_for_update().filter(is_active=True))
        ModelVersion.objects.filter(is_active=True).exclude(pk=version.pk).update(is_active=False)
        version.is_active = True
        version.activated_at = timezone.now()
        version.save(update_fields=["is_active", "activated_at"])
    return version
