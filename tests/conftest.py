"""Shared fixtures: an isolated media dir, and a tiny real Keras model that serves in place of the trained one."""
import io
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
PETS = SHARED / "data" / "pets"
OTHER = SHARED / "data" / "other"


def pytest_configure(config):
    # The suite tests with real photos from ../shared (beside the checkout, as in CI; never committed): say so once
    # instead of failing test by test.
    if not PETS.is_dir():
        pytest.exit(f"{PETS} not found: the tests need ../shared/data beside the checkout (as CI provides it).", returncode=4)


def pet_photos(label, count):
    """The first `count` real photos of one class from ../shared/data/pets (sorted, so stable)."""
    photos = sorted((PETS / label).glob("*.jpg"))[:count]
    assert len(photos) == count, f"expected {count} photos in {PETS / label}"
    return photos


def color_image_bytes(color, size=(64, 48), fmt="JPEG", mode="RGB"):
    from PIL import Image

    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """A tiny, deterministic 6-class Keras model (input 32x32) with a model card.

    It looks only at the mean colour: mostly red -> cat, mostly green -> dog, mostly blue -> fish,
    so tests can predict its answers. Saved in the same format and contract as real models.
    """
    from tests.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model") / "tiny.keras")


@pytest.fixture(scope="session")
def tiny_maps_model_path(tmp_path_factory):
    """The tiny model built like the default one's top, with class maps: the same answers, and where it saw the colour."""
    from tests.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-maps-model") / "tiny.keras", class_maps=True)


@pytest.fixture(autouse=True)
def isolated_media(settings, tmp_path, tiny_model_path):
    """Every test gets its own MEDIA_ROOT and serves the tiny model, never the shipped one."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    settings.PETSITE_MODEL_PATH = tiny_model_path
    settings.CELERY_BROKER_URL = ""
    settings.PETSITE_TRAINING_ABSTRACT_PICTURES = 6  # a tiny kind of abstract pictures, like the tiny datasets
    yield
