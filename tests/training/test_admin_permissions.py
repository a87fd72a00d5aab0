"""Staff who may only view model versions and runs cannot switch the served model or cancel runs."""
import pytest
from django.contrib.auth.models import Permission

from training.models import ModelVersion

pytestmark = pytest.mark.django_db


def test_view_only_staff_cannot_activate_or_roll_back(client, django_user_model, tiny_model_path):
    active = ModelVersion.objects.create(name="a", architecture="default", file_path=str(tiny_model_path), input_size=32, is_active=True)
    other = ModelVersion.objects.create(name="b", architecture="default", file_path=str(tiny_model_path), input_size=32)
    viewer = django_user_model.objects.create_user("viewer", password="pw-viewer-123", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__in=["view_modelversion", "view_trainingrun"]))
    client.force_login(viewer)

    page = client.get("/admin/training/modelversion/")
    assert page.status_code == 200
    assert b"activate_selected" not in page.content and b"roll_back" not in page.content
    client.post("/admin/training/modelversion/", {"action": "activate_selected", "_selected_action": [other.pk]})

    active.refresh_from_db()
    other.refresh_from_db()
    assert active.is_active and not other.is_active
