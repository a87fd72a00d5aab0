"""The heat map of where the model looked: made by the worker with the answer when the model has class maps, in the
display copy's proportions and aligned with the photo (the padding the model saw is cut away), served as heatmap_url;
never a reason for a classification to fail."""
import io
import logging

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image

from classifier import heatmap, services
from classifier.models import Prediction
from tests.classifier.conftest import media_files, upload_file

pytestmark = pytest.mark.django_db

RED, DARK = (230, 20, 20), (30, 30, 30)


@pytest.fixture
def maps_model(settings, tiny_maps_model_path):
    """Serve the tiny colour model with class maps (red reads as cat, and the cat map is hot where the red is)."""
    settings.PETSITE_MODEL_PATH = tiny_maps_model_path


def half_red_png(size):
    """A PNG of `size` whose left half is red, the rest dark."""
    image = Image.new("RGB", size, DARK)
    image.paste(RED, (0, 0, size[0] // 2, size[1]))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def classify(size):
    prediction = services.submit_upload(upload_file("half.png", half_red_png(size), "image/png"))
    return services.classify_prediction(prediction.pk)


def overlay_alpha(prediction):
    with prediction.heatmap.open("rb") as handle:
        data = handle.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(data))
    return image, np.asarray(image.convert("RGBA"))[..., 3].astype(float)


@pytest.mark.parametrize("size", [(1600, 800), (300, 600)])
def test_a_classified_upload_gets_a_heat_map_over_its_display_copy(client, maps_model, size):
    prediction = classify(size)
    assert prediction.status == "done" and prediction.label == "cat"
    assert prediction.heatmap.name.startswith("heatmaps/") and prediction.heatmap.name.endswith(".png")
    image, alpha = overlay_alpha(prediction)
    with prediction.display_image.open("rb") as handle:
        display = Image.open(handle).size
    # the display copy's proportions (the page stretches it over the photo), at most OVERLAY_SIDE px
    assert image.size == heatmap.overlay_size(display)
    assert max(image.size) == min(heatmap.OVERLAY_SIDE, max(display))
    assert abs(image.width / image.height - display[0] / display[1]) < 0.01
    # where the model found the cat (the red half) is covered, the rest clear; for the tall photo the model saw it
    # between black bars, which are cut away, so the red half starts at the overlay's left edge
    left, right = alpha[:, : image.width // 2], alpha[:, image.width // 2:]
    assert left.mean() > 150 and right.mean() < 0.25 * left.mean()
    assert alpha[:, : max(1, image.width // 10)].mean() > 150

    body = client.get(reverse("api:prediction", args=[prediction.pk])).json()
    assert body["heatmap_url"] == prediction.heatmap.url and body["heatmap_url"].endswith(".png")


def test_not_a_pet_shows_where_the_closest_pet_was_seen(settings, tiny_maps_model_path, tmp_path):
    import json
    import shutil

    model = shutil.copy(tiny_maps_model_path, tmp_path / "model.keras")
    card = json.loads(tiny_maps_model_path.with_suffix(".json").read_text())
    (tmp_path / "model.json").write_text(json.dumps({**card, "version": "tiny-picky", "unknown_threshold": 1.0}))
    settings.PETSITE_MODEL_PATH = model  # every pet score is under the threshold: always "not a pet"
    prediction = classify((400, 200))
    assert prediction.label == "unknown"
    image, alpha = overlay_alpha(prediction)  # the closest pet (cat) was seen in the red half
    assert alpha[:, : image.width // 2].mean() > 4 * alpha[:, image.width // 2:].mean()


def test_a_model_without_class_maps_classifies_with_no_heat_map(client, settings):
    prediction = classify((200, 100))  # the plain tiny model
    assert prediction.status == "done" and prediction.label == "cat"
    assert not Prediction.objects.get(pk=prediction.pk).heatmap
    assert client.get(reverse("api:prediction", args=[prediction.pk])).json()["heatmap_url"] is None
    assert not (settings.MEDIA_ROOT / "heatmaps").exists()


def test_a_heat_map_that_cannot_be_made_never_fails_the_classification(maps_model, monkeypatch, caplog, settings):
    def broken(*args):
        raise MemoryError("no room for a picture")

    monkeypatch.setattr(services, "heatmap_png", broken)
    with caplog.at_level(logging.ERROR, logger="classifier.services"):
        prediction = classify((200, 100))
    stored = Prediction.objects.get(pk=prediction.pk)
    assert stored.status == "done" and stored.label == "cat" and not stored.heatmap
    assert "no heat map" in caplog.text
    assert not (settings.MEDIA_ROOT / "heatmaps").exists() or not any((settings.MEDIA_ROOT / "heatmaps").iterdir())


def test_deleting_a_prediction_deletes_its_heat_map(maps_model, settings, django_capture_on_commit_callbacks):
    prediction = classify((200, 100))
    path = settings.MEDIA_ROOT / prediction.heatmap.name
    assert path.is_file()
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_predictions(Prediction.objects.filter(pk=prediction.pk))
    assert not path.exists() and media_files(settings) == []


def test_photo_box_cuts_the_padding_the_model_saw():
    assert heatmap.photo_box((200, 100), 8) == (0, 2, 8, 6)  # wide: bars above and below
    assert heatmap.photo_box((100, 400), 8) == (3, 0, 5, 8)  # tall: bars left and right
    assert heatmap.photo_box((50, 50), 9) == (0, 0, 9, 9)


def test_no_evidence_gives_a_clear_overlay():
    image = heatmap.heatmap_image(np.full((9, 9), -3.0, "float32"), (400, 300), (128, 96))
    assert image.size == (128, 96)
    assert np.asarray(image.convert("RGBA"))[..., 3].max() == 0


@pytest.mark.parametrize("pet_score, stored", [(0.003, False), (0.3, True)])
def test_no_heat_map_file_for_a_not_a_pet_answer_that_saw_no_pet(maps_model, monkeypatch, settings, pet_score, stored):
    """Every closest pet under 1% (pet score 0.003): the page offers no heat map, so the worker writes none."""
    from classifier.inference import InferenceResult

    shares = {"bird": 0.1, "cat": 0.5, "dog": 0.1, "dragon": 0.1, "fish": 0.1, "hamster": 0.1}
    result = InferenceResult(label="unknown", confidence=1 - pet_score, probabilities=shares, pet_score=pet_score,
                             model_version="tiny", class_map=np.ones((4, 4), dtype="float32"))
    monkeypatch.setattr(services, "classify_image", lambda image: result)
    prediction = classify((200, 100))
    assert prediction.status == "done" and prediction.label == "unknown"
    assert bool(prediction.heatmap) is stored
    written = list((settings.MEDIA_ROOT / "heatmaps").iterdir()) if (settings.MEDIA_ROOT / "heatmaps").exists() else []
    assert len(written) == int(stored)
