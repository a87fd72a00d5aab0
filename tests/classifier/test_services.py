"""The service layer: storing uploads, classifying them (done / failed / idempotent), no model available."""
import math

import pytest
from django.urls import reverse

from classifier import services
from classifier.models import Prediction
from ingestion.labels import CLASSES
from tests.classifier.conftest import BLUE, GREEN, RED, media_files, png_bytes, upload_file
from tests.conftest import color_image_bytes

pytestmark = pytest.mark.django_db


def test_submit_upload_stores_the_file_under_a_generated_name_and_a_pending_row(settings):
    data = color_image_bytes(RED)
    prediction = services.submit_upload(upload_file("../../etc/My Cat.jpg", data))

    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.PENDING
    assert prediction.label == "" and prediction.probabilities == {}
    assert prediction.original_filename == "My Cat.jpg"
    assert prediction.image_format == "JPEG"
    # Stored in the row itself, so loading a row never has to open the image file.
    assert Prediction.objects.filter(pk=prediction.pk).values_list("width", "height").get() == (64, 48)
    stored = settings.MEDIA_ROOT / prediction.image.name
    assert stored.is_file() and stored.read_bytes() == data
    assert prediction.image.name.startswith("uploads/") and "Cat" not in prediction.image.name
    assert not prediction.thumbnail and not prediction.display_image  # the worker makes them (one decode there)
    assert len(prediction.content_hash) == 64
    assert Prediction.objects.count() == 1


def test_submit_upload_names_the_file_by_its_decoded_format_not_its_name(settings):
    prediction = services.submit_upload(upload_file("looks-like.jpg", png_bytes(), content_type="image/jpeg"))
    assert prediction.image_format == "PNG"
    assert prediction.image.name.endswith(".png")


def test_submit_upload_removes_the_files_when_the_row_cannot_be_written(settings, monkeypatch):
    def broken_save(self, *args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Prediction, "save", broken_save)
    with pytest.raises(RuntimeError):
        services.submit_upload(upload_file())
    monkeypatch.undo()
    assert media_files(settings) == []
    assert Prediction.objects.count() == 0


@pytest.mark.parametrize("color, label", [(RED, "cat"), (GREEN, "dog"), (BLUE, "fish")])
def test_classify_prediction_records_done_with_the_result(color, label):
    pending = services.submit_upload(upload_file(data=color_image_bytes(color)))
    done = services.classify_prediction(pending.pk)

    done.refresh_from_db()
    assert done.status == Prediction.Status.DONE
    assert done.label == label
    assert set(done.probabilities) == set(CLASSES)
    assert math.isclose(sum(done.probabilities.values()), 1.0, abs_tol=1e-4)
    assert done.confidence == pytest.approx(done.probabilities[label])
    assert done.confidence == pytest.approx(max(done.probabilities.values()))
    assert done.model_version == "tiny-test"
    assert done.inference_ms is not None and done.inference_ms >= 0
    assert done.completed_at is not None and done.completed_at >= done.created_at
    assert done.error == "" and done.attempts == 1


def test_classify_prediction_twice_is_harmless():
    pending = services.submit_upload(upload_file())
    first = services.classify_prediction(pending.pk)
    second = services.classify_prediction(pending.pk)

    assert second.status == Prediction.Status.DONE
    assert second.completed_at == first.completed_at
    assert second.probabilities == first.probabilities
    assert second.attempts == 1


def test_a_photo_whose_earlier_attempts_never_finished_is_failed_not_retried_forever(monkeypatch):
    pending = services.submit_upload(upload_file())
    Prediction.objects.filter(pk=pending.pk).update(attempts=services.MAX_ATTEMPTS)
    monkeypatch.setattr(services, "classify_image", lambda image: pytest.fail("must not try again"))

    given_up = services.classify_prediction(pending.pk)

    given_up.refresh_from_db()
    assert given_up.status == Prediction.Status.FAILED
    assert f"Gave up after {services.MAX_ATTEMPTS} attempts" in given_up.error


def test_an_unexpected_error_is_retried_then_recorded_as_failed(monkeypatch):
    pending = services.submit_upload(upload_file())

    def crash(image):
        raise RuntimeError("kernel exploded")

    monkeypatch.setattr(services, "classify_image", crash)
    for attempt in range(1, services.MAX_ATTEMPTS):
        with pytest.raises(RuntimeError):
            services.classify_prediction(pending.pk)
        assert Prediction.objects.get(pk=pending.pk).status == Prediction.Status.PENDING
    final = services.classify_prediction(pending.pk)
    final.refresh_from_db()
    assert final.status == Prediction.Status.FAILED and final.error == "Classification failed after several attempts."
    assert "kernel exploded" not in final.error  # internals stay in the log
    assert final.attempts == services.MAX_ATTEMPTS


def test_classify_prediction_does_not_overwrite_a_finished_row():
    pending = services.submit_upload(upload_file())
    Prediction.objects.filter(pk=pending.pk).update(status=Prediction.Status.FAILED, error="earlier failure")
    again = services.classify_prediction(pending.pk)
    assert again.status == Prediction.Status.FAILED and again.error == "earlier failure" and again.label == ""


def test_classify_prediction_of_a_damaged_stored_file_records_failed(settings):
    pending = services.submit_upload(upload_file())
    (settings.MEDIA_ROOT / pending.image.name).write_bytes(b"garbage, not a JPEG any more")

    failed = services.classify_prediction(pending.pk)
    assert failed.status == Prediction.Status.FAILED
    assert "damaged" in failed.error or "not a JPEG" in failed.error
    assert failed.label == "" and failed.completed_at is not None


def test_classify_prediction_of_a_missing_stored_file_records_failed(settings):
    pending = services.submit_upload(upload_file())
    (settings.MEDIA_ROOT / pending.image.name).unlink()
    failed = services.classify_prediction(pending.pk)
    assert failed.status == Prediction.Status.FAILED
    assert failed.error == "The stored photo could not be read."


def test_a_model_file_that_cannot_be_loaded_is_retried_not_blamed_on_the_photo(monkeypatch):
    pending = services.submit_upload(upload_file())

    def no_export(image):
        raise FileNotFoundError("No verified LiteRT export beside /srv/models/x.keras")

    monkeypatch.setattr(services, "classify_image", no_export)
    with pytest.raises(FileNotFoundError):
        services.classify_prediction(pending.pk)
    assert Prediction.objects.get(pk=pending.pk).status == Prediction.Status.PENDING  # a later delivery tries again
    Prediction.objects.filter(pk=pending.pk).update(attempts=services.MAX_ATTEMPTS - 1)
    final = services.classify_prediction(pending.pk)
    assert final.status == Prediction.Status.FAILED and final.error == "Classification failed after several attempts."


def test_classify_prediction_of_a_deleted_row_returns_none():
    assert services.classify_prediction(987654) is None


def test_a_prediction_deleted_while_it_is_classified_leaves_no_copies_behind(settings, tiny_maps_model_path, monkeypatch):
    settings.PETSITE_MODEL_PATH = tiny_maps_model_path  # a model with class maps: a heat map is made too
    pending = services.submit_upload(upload_file())
    classify_image = services.classify_image

    def deleted_meanwhile(image):
        result = classify_image(image)
        Prediction.objects.filter(pk=pending.pk).delete()  # its owner deletes it while the worker classifies it
        return result

    monkeypatch.setattr(services, "classify_image", deleted_meanwhile)
    assert services.classify_prediction(pending.pk) is None
    made = {path.relative_to(settings.MEDIA_ROOT).parts[0] for path in media_files(settings)}
    assert not made & {"display", "thumbnails", "heatmaps"}, media_files(settings)


def test_without_a_model_the_prediction_fails_with_a_clear_message_and_the_home_page_says_so(settings, tmp_path, client):
    settings.PETSITE_MODEL_PATH = tmp_path / "nowhere" / "model.keras"
    pending = services.submit_upload(upload_file())
    failed = services.classify_prediction(pending.pk)

    assert failed.status == Prediction.Status.FAILED
    assert "No model is available" in failed.error and str(tmp_path) not in failed.error  # no server paths in public text

    home = client.get(reverse("classifier:home"))
    assert home.status_code == 200
    assert "No model is available" in home.content.decode()

    from tests.classifier.test_public_answers import own

    own(client, failed)  # the uploader's browser, which may try again
    page = client.get(failed.get_absolute_url())
    assert page.status_code == 200
    assert "We couldn't classify this photo" in page.content.decode()
    assert "no model has been set up yet" in page.content.decode()
    assert 'id="retry-button"' in page.content.decode()  # trying again may help once a model is installed


def test_with_a_model_the_home_page_shows_no_notice(client):
    home = client.get(reverse("classifier:home"))
    assert home.status_code == 200
    assert "No model is available" not in home.content.decode()
    assert 'id="upload-form"' in home.content.decode()


def test_relabel_refuses_an_unknown_label(make_prediction, staff_user):
    prediction = make_prediction()
    with pytest.raises(ValueError):
        services.relabel(Prediction.objects.filter(pk=prediction.pk), "unicorn", staff_user)
    prediction.refresh_from_db()
    assert prediction.true_label == ""


def test_requeue_stale_pending_dispatches_only_old_pending_rows(monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    dispatched = []
    monkeypatch.setattr(services, "dispatch", lambda task, *args: dispatched.append(args))
    old = services.submit_upload(upload_file())
    fresh = services.submit_upload(upload_file())
    Prediction.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=1), enqueued_at=timezone.now() - timedelta(hours=1))

    assert services.requeue_stale_pending(older_than_seconds=60) == [old.pk]
    assert dispatched == [(old.pk,)]
    assert fresh.pk not in [args[0] for args in dispatched]


def test_a_requeued_row_is_not_sent_again_until_it_is_stale_again(monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    dispatched = []
    monkeypatch.setattr(services, "dispatch", lambda task, *args: dispatched.append(args))
    waiting = services.submit_upload(upload_file())
    Prediction.objects.filter(pk=waiting.pk).update(enqueued_at=timezone.now() - timedelta(hours=1))

    assert services.requeue_stale_pending(older_than_seconds=60) == [waiting.pk]
    # Still queued behind a backlog: the next passes leave it alone instead of piling up duplicates.
    assert services.requeue_stale_pending(older_than_seconds=60) == []
    assert services.requeue_stale_pending(older_than_seconds=60) == []
    assert dispatched == [(waiting.pk,)]
    assert Prediction.objects.get(pk=waiting.pk).enqueued_at > timezone.now() - timedelta(seconds=60)


def test_ensure_admin_creates_one_superuser_once(db, django_user_model, monkeypatch, capsys):
    from django.core.management import call_command

    monkeypatch.setenv("PETSITE_ADMIN_PASSWORD", "pw-admin-123")
    call_command("ensure_admin")
    assert "Created admin user 'admin' with password 'pw-admin-123'" in capsys.readouterr().out
    call_command("ensure_admin")
    assert "An admin user already exists" in capsys.readouterr().out
    [admin] = django_user_model.objects.filter(is_superuser=True)
    assert admin.username == "admin" and admin.check_password("pw-admin-123")
