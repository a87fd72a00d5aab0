"""The model registry: which model serves, and every change to the set of model versions.

Which model serves: the active ModelVersion in the database, else the shipped model file
(settings.PETSITE_MODEL_PATH), described by a JSON card beside it (`model.json`), so the CLI can classify
with no database at all.

Changes: activate() / roll_back() switch the served version; register_version() records a trained model
from its card (CARD_FIELDS: the one list of fields a card and a ModelVersion share); register_shipped_model()
records the shipped model; save_model_file() / export_litert_copy() write a trained model's files under
MEDIA_ROOT/models/<name>/; package_version() copies a version's files and card to a folder (what the site ships).
"""
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.validators import validate_slug
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


def input_size_of_file(model_path):
    """The square input size a .keras file's first input layer declares (its zip's config.json), without loading
    the model; None when it declares no fixed square size."""
    import zipfile

    try:
        with zipfile.ZipFile(model_path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    for layer in config.get("config", {}).get("layers", []):
        if layer.get("class_name") == "InputLayer":
            shape = layer.get("config", {}).get("batch_shape") or []
            if len(shape) == 4 and shape[1] and shape[1] == shape[2]:
                return int(shape[1])
            return None
    return None


def spec_from_file(model_path):
    model_path = Path(model_path)
    if not model_path.exists():
        raise NoModelAvailable(f"No model file at {model_path}. Train one with `python manage.py train` or set PETSITE_MODEL_PATH.")
    card = read_card(model_path)
    # A model without a card (or an older card) still serves at the size it was built for.
    input_size = card.get("input_size") or input_size_of_file(model_path)
    if not input_size:
        raise NoModelAvailable(f"Cannot tell the input size of {model_path}: add \"input_size\" to its card {card_path(model_path)}.")
    return ModelSpec(
        version=card.get("version", model_path.stem),
        path=model_path,
        classes=tuple(card.get("classes", CLASSES)),
        input_size=int(input_size),
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


def previous_version():
    """The most recently activated version other than the active one (None: nothing to roll back to)."""
    from training.models import ModelVersion

    current = active_version()
    return ModelVersion.objects.exclude(pk=getattr(current, "pk", None)).filter(activated_at__isnull=False).order_by("-activated_at").first()


def roll_back():
    """Activate the previously active version; returns it, or None when there is none."""
    previous = previous_version()
    return activate(previous) if previous is not None else None


# ---------------------------------------------------------------------------------------------
# Registering models: a card (JSON beside a model file) and a ModelVersion hold the same fields.

# The fields a model card and a ModelVersion share; the card names the version "version", the model "name".
CARD_FIELDS = (
    "architecture", "classes", "input_size", "unknown_threshold", "dataset_digest", "class_counts", "params", "metrics",
    "training_seconds",
)


def version_card(version):
    """The JSON card of a ModelVersion."""
    return {"version": version.name, **{field: getattr(version, field) for field in CARD_FIELDS}}


def register_version(card, file_path, curves_png=None):
    """Save a ModelVersion from a model card (fields it lacks keep the model's defaults), with its pictures:
    the training curves (PNG bytes, if given) and the confusion matrix drawn from the card's metrics."""
    from training import metrics as M
    from training.models import ModelVersion

    name = card["version"]
    version = ModelVersion(name=name, file_path=str(file_path), **{field: card[field] for field in CARD_FIELDS if field in card})
    if curves_png:
        version.curves_image.save(f"{name}-curves.png", ContentFile(curves_png), save=False)
    matrix = (version.metrics or {}).get("confusion_matrix")
    if matrix:
        version.confusion_image.save(f"{name}-confusion.png", ContentFile(M.confusion_png(matrix, list(version.classes))), save=False)
    version.save()
    return version


def models_dir():
    """Where trained versions' files live: MEDIA_ROOT/models/<name>/."""
    return Path(settings.MEDIA_ROOT) / "models"


def media_relative(path):
    """`path` as a ModelVersion stores it: relative to MEDIA_ROOT when inside it (the media folder can move)."""
    path = Path(path)
    return str(path.relative_to(settings.MEDIA_ROOT)) if path.is_relative_to(settings.MEDIA_ROOT) else str(path)


def check_new_version_name(name):
    """ValueError unless `name` is a safe, unused version name (a reused one would overwrite a model's files)."""
    from training.models import ModelVersion

    try:
        validate_slug(name)
    except ValidationError as exc:
        raise ValueError("Version names may only use letters, digits, hyphens and underscores.") from exc
    if ModelVersion.objects.filter(name=name).exists() or (models_dir() / name).exists():
        raise ValueError(f"A model version named {name!r} already exists; choose another name.")


def new_version_name(architecture):
    """An unused name: <architecture>-<timestamp>, with -2, -3 ... on a clash."""
    from training.models import ModelVersion

    base = f"{architecture}-{timezone.now():%Y%m%d-%H%M%S}"
    name, n = base, 1
    while ModelVersion.objects.filter(name=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


class VersionNameTaken(ValueError):
    """An interrupted run's version name belongs to a version that must be kept (compared or activated once)."""


def reclaim_unfinished_version(name):
    """What an interrupted training left under version `name`, for its run's resume.

    A version registered under `name` with its model file finished training (the worker died before its run recorded
    it): it is returned, for the run to adopt; nothing is removed. Otherwise what is left is discarded and None is
    returned: a folder under models_dir() no row owns, and a row whose model file is gone, unless that row was compared
    or activated once (history staff may have seen): then VersionNameTaken is raised and nothing is touched."""
    from training.models import ModelVersion

    validate_slug(name)  # a path component: never let it walk out of models_dir()
    version = ModelVersion.objects.filter(name=name).first()
    if version is not None:
        if version.resolved_path.is_file():
            return version
        if version.is_active or version.activated_at is not None or version.comparisons.exists():
            raise VersionNameTaken(f"Version {name} was compared or activated; it is kept although its model file is gone.")
        for picture in (version.curves_image, version.confusion_image):
            if picture:
                picture.delete(save=False)
        version.delete()
    shutil.rmtree(models_dir() / name, ignore_errors=True)
    return None


def save_model_file(model, name):
    """Save a trained Keras model as MEDIA_ROOT/models/<name>/model.keras; returns the path."""
    folder = models_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    model_path = folder / "model.keras"
    if getattr(model, "optimizer", None) is not None:
        import keras

        # Serve-only copy sharing the trained layers: no optimizer state in the file (3x smaller for seed).
        model = keras.Model(model.input, model.output, name=model.name)
    model.save(model_path)
    return model_path


def export_litert_copy(model_path, image_paths, input_size, check_images=128):
    """Write the verified LiteRT copy the workers serve (see training/litert.py), checked on up to `check_images`
    of `image_paths`; Keras serves if this fails. Returns its path or None."""
    from training.litert import check_batch_from_images, export_tflite

    paths = list(image_paths)[:: max(1, len(image_paths) // check_images)][:check_images]
    if not paths:
        return None
    try:
        path, difference = export_tflite(model_path, check_batch_from_images(paths, input_size))
    except Exception:
        logger.exception("LiteRT export of %s failed; the Keras model will serve", model_path)
        return None
    logger.info("LiteRT export %s verified on %d test photos (max difference %.1e)", path, len(paths), difference)
    return path


def package_version(version, path):
    """Copy a version's model file to `path` (a .keras file, or a folder to hold model.keras), with its verified LiteRT
    copies and its JSON card beside it (what the site ships)."""
    from training.litert import export_record_path, exported_path

    path = Path(path)
    if path.is_dir() or path.suffix != ".keras":
        path = path / "model.keras"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(version.resolved_path, path)
    from training.quantize import int8_path, int8_record_path

    model = version.resolved_path
    # The verified LiteRT copies travel with the model, named as the loaders look for them beside it (a version
    # name may hold dots); their records name the Keras file by digest.
    for name_of in (exported_path, export_record_path, int8_path, int8_record_path):
        if name_of(model).exists():
            shutil.copyfile(name_of(model), name_of(path))
    card_path(path).write_text(json.dumps(version_card(version), indent=2, sort_keys=True))
    return path


def shipped_card():
    return read_card(settings.PETSITE_MODEL_PATH)


def register_shipped_model(activate_if_none=True):
    """Make the shipped model (settings.PETSITE_MODEL_PATH + its card) a ModelVersion, so staff see its
    metrics and confusion matrix in the admin and can roll back to it. Returns (version, created)."""
    from training.models import ModelVersion

    spec = spec_from_file(settings.PETSITE_MODEL_PATH)
    version = ModelVersion.objects.filter(name=spec.version).first()
    created = version is None
    if created:
        card = {"architecture": "default", **shipped_card(), "version": spec.version, "classes": list(spec.classes),
                "input_size": spec.input_size, "unknown_threshold": spec.unknown_threshold}
        curves = Path(spec.path).with_name("curves.png")  # the training curves saved beside the shipped model
        version = register_version(card, Path(spec.path).resolve(), curves_png=curves.read_bytes() if curves.exists() else None)
    if activate_if_none and active_version() is None:
        activate(version)
    return version, created
