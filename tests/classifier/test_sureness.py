"""One prediction, one "how sure": the admin, the review queue and the public page say the same figure."""
from django.urls import reverse

from classifier.models import Prediction


def hamster_for_a_guinea_pig(prediction):
    """What the model does with a guinea pig: nearly all of the pets' share on hamster, but a pet score of 0.661."""
    probabilities = dict.fromkeys(prediction.probabilities, 0.0002)
    probabilities["hamster"] = 0.9990
    Prediction.objects.filter(pk=prediction.pk).update(label="hamster", confidence=0.9990, probabilities=probabilities, pet_score=0.661)
    prediction.refresh_from_db()
    return prediction


def test_admin_review_queue_and_result_page_agree(staff_client, make_prediction):
    prediction = hamster_for_a_guinea_pig(make_prediction())
    changelist = staff_client.get(reverse("admin:classifier_prediction_changelist")).content.decode()
    assert '<td class="field-confidence_pct">66% (over 99% among the six pets)</td>' in changelist
    queue = staff_client.get(reverse("review:queue") + f"?id={prediction.pk}").content.decode()
    assert '<span id="model-sure">66% sure</span>' in queue and "(over 99% among the six pets)" in queue
    page = staff_client.get(reverse("classifier:prediction", args=[prediction.pk])).content.decode()
    assert '<p class="figure" id="subline">66% sure</p>' in page


def test_not_a_pet_is_as_sure_as_its_pet_score_is_low(staff_client, make_prediction):
    prediction = make_prediction()
    Prediction.objects.filter(pk=prediction.pk).update(label="unknown", confidence=0.7, pet_score=0.2)
    changelist = staff_client.get(reverse("admin:classifier_prediction_changelist")).content.decode()
    assert '<td class="field-confidence_pct">80%</td>' in changelist
    queue = staff_client.get(reverse("review:queue") + f"?id={prediction.pk}").content.decode()
    assert '<span id="model-sure">80% sure</span>' in queue and "among the six pets" not in queue


def test_unfinished_prediction_has_no_figure(staff_client, make_prediction):
    make_prediction(classify=False)
    changelist = staff_client.get(reverse("admin:classifier_prediction_changelist")).content.decode()
    assert '<td class="field-confidence_pct">-</td>' in changelist


def test_a_pet_answer_without_its_share_has_no_figure(staff_client, make_prediction):
    prediction = make_prediction()
    Prediction.objects.filter(pk=prediction.pk).update(label="cat", confidence=None, pet_score=0.9)
    changelist = staff_client.get(reverse("admin:classifier_prediction_changelist")).content.decode()
    assert '<td class="field-confidence_pct">-</td>' in changelist


def test_a_scraped_photos_score_is_as_sure_as_the_page_would_say(monkeypatch):
    """A scrape job auto-accepts photos at its confidence: the guinea pig's "hamster" at share 0.999 and pet score
    0.661 is 66% sure, as every page says, so a 0.95 job does not accept it; "not a pet" is 1 - pet score; a model
    without a pet score keeps its share."""
    import pytest

    from classifier import inference
    from classifier.inference import InferenceResult

    shares = {"bird": 0.0002, "cat": 0.0002, "dog": 0.0002, "dragon": 0.0002, "fish": 0.0002, "hamster": 0.999}
    for result, figure in [
        (InferenceResult("hamster", 0.999, shares, pet_score=0.661, model_version="m"), 0.999 * 0.661),
        (InferenceResult("unknown", 0.8, shares, pet_score=0.2, model_version="m"), 0.8),
        (InferenceResult("hamster", 0.999, shares, pet_score=None, model_version="m"), 0.999),
    ]:
        monkeypatch.setattr(inference, "classify_image", lambda image, result=result: result)
        score = inference.score_photo(b"any bytes")
        assert score["confidence"] == pytest.approx(figure) and score["label"] == result.label
        assert score["pet_score"] == result.pet_score and score["model_version"] == "m"


def test_the_admin_page_says_the_models_threshold_beside_the_pet_score(staff_client, make_prediction):
    from training.models import ModelVersion

    prediction = hamster_for_a_guinea_pig(make_prediction())
    change = reverse("admin:classifier_prediction_change", args=[prediction.pk])
    assert "threshold" not in staff_client.get(change).content.decode().split("field-pet_score_pct")[1][:300]  # none known
    ModelVersion.objects.create(name=prediction.model_version, architecture="tiny", file_path="/nowhere.keras", unknown_threshold=0.278)
    page = staff_client.get(change).content.decode()
    assert "66% (pet score 0.661; the model&#x27;s threshold 0.278: below it the answer is &#x27;Not a pet&#x27;)" in page
