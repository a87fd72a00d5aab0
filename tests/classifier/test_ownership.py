"""The uploader's session: made with the first upload, written at most once a day by uploads (so a parallel batch
never writes it at once); the parallel batch itself runs on the real server in tests/e2e/test_ownership.py."""
import pytest

from classifier import ownership, services
from classifier.models import Prediction
from tests.classifier.conftest import upload_file

pytestmark = pytest.mark.django_db


def test_uploads_write_the_session_once_a_day_at_most(client, monkeypatch):
    from django.contrib.sessions.backends.db import SessionStore

    monkeypatch.setattr(services, "dispatch_on_commit", lambda *args: None)
    saves = []
    real_save = SessionStore.save
    monkeypatch.setattr(SessionStore, "save", lambda self, *a, **k: (saves.append(1), real_save(self, *a, **k))[1])
    now = [1_800_000_000]
    monkeypatch.setattr(ownership.time, "time", lambda: now[0])

    def upload():
        assert client.post("/", {"image": upload_file()}, HTTP_ACCEPT="application/json").status_code == 202

    assert client.get("/").status_code == 200 and not saves  # a visit alone stores no session
    upload()
    first = len(saves)
    assert first >= 1
    upload(), upload()
    assert len(saves) == first  # the same day: not written again
    now[0] += ownership.RENEW_AFTER_SECONDS + 1
    upload()
    assert len(saves) == first + 1  # a day later: its age renewed
    assert len(set(Prediction.objects.values_list("uploader", flat=True))) == 1 and Prediction.objects.count() == 4
