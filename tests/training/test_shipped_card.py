"""The shipped model's card (training/default_model/model.json) carries what its admin page draws."""
import json
from pathlib import Path

import pytest
from django.urls import reverse

from training.models import ModelVersion

CARD = Path(__file__).resolve().parents[2] / "training" / "default_model" / "model.json"


@pytest.mark.django_db
def test_the_shipped_card_has_the_not_a_pet_tradeoff_the_admin_draws(admin_client):
    card = json.loads(CARD.read_text())
    unknown = card["metrics"]["unknown"]
    assert set(unknown["tradeoff_by_folder"]) == {"test pets vs other", "test pets vs nearmiss", "test pets vs abstract"}
    assert len(unknown["tradeoff"]["threshold"]) == len(unknown["tradeoff"]["pets_rejected"]) == len(unknown["tradeoff"]["others_caught"]) > 10
    version = ModelVersion.objects.create(name=card["version"], architecture=card["architecture"], file_path="unused.keras",
                                          input_size=card["input_size"], unknown_threshold=card["unknown_threshold"], metrics=card["metrics"])
    page = admin_client.get(reverse("admin:training_modelversion_change", args=[version.pk])).content.decode()
    assert 'alt="Trade-off curve: pets answered not a pet' in page
    # read as a person would: the threshold to three decimals, with what it does
    assert f'{card["unknown_threshold"]:.3f}: a photo whose pet score is below it is answered &quot;not a pet&quot;' in page
