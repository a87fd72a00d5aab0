"""classify_image: the 'unknown' outcome and what its confidence means."""
import json
import shutil

from PIL import Image

from classifier.inference import classify_image


def test_below_the_pet_score_threshold_the_answer_is_unknown_with_its_own_confidence(settings, tmp_path, tiny_model_path):
    model = shutil.copy(tiny_model_path, tmp_path / "model.keras")
    card = json.loads(tiny_model_path.with_suffix(".json").read_text())
    # The tiny model has no pet-score output, so its top probability stands in; a grey photo is unsure of everything.
    card.update(version="tiny-threshold", unknown_threshold=0.5)
    (tmp_path / "model.json").write_text(json.dumps(card))
    settings.PETSITE_MODEL_PATH = model

    grey = classify_image(Image.new("RGB", (40, 40), (128, 128, 128)), use_database=False)
    red = classify_image(Image.new("RGB", (40, 40), (230, 10, 10)), use_database=False)

    assert grey.label == "unknown"
    assert grey.pet_score is None  # no pet-score output: nothing to store (the top share only stood in for the threshold)
    assert max(grey.probabilities.values()) < 0.5
    assert grey.confidence == 1.0 - max(grey.probabilities.values())  # belief in "not a pet", not the best pet class
    assert red.label == "cat" and red.confidence == max(red.probabilities.values()) > 0.5
