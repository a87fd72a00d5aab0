"""Reads of the classifier app; reviewed predictions reach rebuild_dataset through the source declared in settings."""
from pathlib import Path

import pytest
from django.core.management import call_command

from classifier import selectors, services
from classifier.models import Prediction
from ingestion.dataset import read_manifest
from tests.classifier.conftest import BLUE, GREEN, RED

pytestmark = pytest.mark.django_db


def test_filter_predictions_by_label_and_review_state(make_prediction, staff_user):
    cat, fish = make_prediction(RED), make_prediction(BLUE)
    services.relabel(Prediction.objects.filter(pk=fish.pk), "dog", staff_user)
    assert list(selectors.filter_predictions()) == [fish, cat]  # newest first
    assert list(selectors.filter_predictions(label="cat")) == [cat]
    assert list(selectors.filter_predictions(reviewed="yes")) == [fish]
    assert list(selectors.filter_predictions(Prediction.objects.filter(pk=cat.pk), reviewed="no")) == [cat]


def test_reviewed_pet_photos_reach_rebuild_dataset_with_their_corrected_label(make_prediction, staff_user, tmp_path, capsys):
    relabelled, not_a_pet = make_prediction(RED), make_prediction(GREEN)
    make_prediction(BLUE)  # not reviewed: not an input
    services.relabel(Prediction.objects.filter(pk=relabelled.pk), "hamster", staff_user)
    services.relabel(Prediction.objects.filter(pk=not_a_pet.pk), "unknown", staff_user)
    assert selectors.reviewed_photos_for_dataset() == [(relabelled.image.path, "hamster")]

    folders = tmp_path / "folders"
    folders.mkdir()
    call_command("rebuild_dataset", "--source", str(folders), "--dest", str(tmp_path / "data"), "--size", "16", "--workers", "1")
    out = capsys.readouterr().out
    assert f"inputs: 0 from {folders.resolve()}; 1 from classifier.selectors.reviewed_photos_for_dataset" in out
    [entry] = read_manifest(tmp_path / "data")["files"]
    assert (entry["label"], entry["origin"], Path(entry["source"])) == ("hamster", "reviewed", Path(relabelled.image.path))
