"""Tiny datasets for the training tests: a few real photos shrunk to 48 px, in the rebuild_dataset layout."""
import json
import shutil

import pytest

from tests.conftest import OTHER, PETS, pet_photos

TINY_CLASSES = ("cat", "dog", "fish")


def _write(src, dest, size=48):
    from ingestion.images import fit_and_pad, open_image

    dest.parent.mkdir(parents=True, exist_ok=True)
    fit_and_pad(open_image(src), size).save(dest)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-dataset")
    for label in TINY_CLASSES:
        photos = sorted((PETS / label).glob("*.jpg"))[:6]
        for i, photo in enumerate(photos):
            split = "test" if i < 2 else "train"
            _write(photo, root / split / label / f"{label}_{i}.png")
    (root / "manifest.json").write_text(json.dumps({"tiny": True, "classes": TINY_CLASSES}))
    return root


@pytest.fixture(scope="session")
def tiny_other(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-other")
    for group in ("vehicles", "food"):
        for i, photo in enumerate(sorted((OTHER / group).glob("*.jpg"))[:4]):
            _write(photo, root / group / f"{group}_{i}.png")
    return root


@pytest.fixture(autouse=True)
def clear_cache():
    """The cache remembers queued compare-and-promote jobs by version id; ids repeat across tests."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def staff(client, django_user_model):
    """A superuser, logged in on `client`."""
    user = django_user_model.objects.create_superuser("staff", "staff@example.com", "pw-12345678")
    client.force_login(user)
    return user


@pytest.fixture
def loop_settings(settings, tmp_path, tiny_other):
    """The improvement loop on tiny data: base folders of 3 classes x 6 photos, datasets under tmp_path, a tiny retrain."""
    source = tmp_path / "base"
    for label in ("cat", "dog", "fish"):
        (source / label).mkdir(parents=True)
        for photo in pet_photos(label, 6):
            shutil.copy(photo, source / label / photo.name)
    settings.PETSITE_DATASETS_ROOT = tmp_path / "datasets"
    settings.PETSITE_DATASET_BASE_FOLDERS = [str(source)]
    settings.PETSITE_DATASET_MIN_PER_CLASS = 0
    settings.PETSITE_TRAINING_OTHER_DIRS = [str(tiny_other)]
    settings.PETSITE_RETRAIN_OPTIONS = {"input_size": 64, "epochs": 3}
    return settings


@pytest.fixture
def live(tiny_model_path):
    """The tiny colour model, live."""
    from training.models import ModelVersion
    from training.registry import activate

    return activate(ModelVersion.objects.create(name="tiny-live", architecture="tiny", input_size=32, file_path=str(tiny_model_path),
                                                classes=["bird", "cat", "dog", "dragon", "fish", "hamster"]))
