"""Reads of the training app (the admin, the commands and ingestion's hooks ask these)."""
from pathlib import Path

from ingestion.selectors import dataset_version_by_name, version_folder


def dataset_version_for_folder(data_dir):
    """The built DatasetVersion whose folder `data_dir` is, or None (a plain dataset folder)."""
    data_dir = Path(data_dir)
    version = dataset_version_by_name(data_dir.name)
    if version is None or not version.is_built:
        return None
    try:
        return version if version_folder(version.name).resolve() == data_dir.resolve() else None
    except OSError:
        return None


def dataset_version_use(version):
    """Why a dataset version may not be deleted ("" when training does not use it): listed in
    settings.PETSITE_DATASET_VERSION_USERS, so ingestion asks without importing training."""
    from training.models import ModelVersion, TrainingRun

    names = list(ModelVersion.objects.filter(dataset_version=version).values_list("name", flat=True)[:5])
    if names:
        return f"model version(s) {', '.join(names)} were trained on it"
    run = TrainingRun.objects.filter(dataset_version=version, in_progress=True).first()
    if run is not None:
        return f"training run #{run.pk} is using it"
    return ""

