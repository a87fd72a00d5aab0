"""Whose photo is it: the browser that uploaded it may delete it, even when its page's script sent several photos at
once (parallel requests of one session, which used to overwrite each other's record of what the session uploaded)."""
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from classifier import services
from classifier.models import Prediction
from tests.conftest import color_image_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_photo_of_a_parallel_batch_belongs_to_the_browser_that_sent_it(live_server, monkeypatch):
    monkeypatch.setattr(services, "dispatch_on_commit", lambda *args: None)  # no worker needed: ownership only
    from django.contrib.sessions.models import Session

    browser = requests.Session()
    assert browser.get(live_server.url + "/", timeout=30).status_code == 200  # the page the script runs on
    assert not Session.objects.exists()  # a visit alone stores no session
    token = browser.cookies["csrftoken"]

    def send(i):
        photo = color_image_bytes((10 * i, 200 - 10 * i, 90))
        response = browser.post(live_server.url + "/", files={"image": (f"pet{i}.jpg", photo, "image/jpeg")},
                                headers={"Accept": "application/json", "X-CSRFToken": token, "Referer": live_server.url + "/"},
                                timeout=60)
        assert response.status_code == 202, response.text[:300]
        return response.json()["page_url"]

    pages = [send(0)]  # as the page's script does: the first alone (it starts the session), then the rest in parallel
    with ThreadPoolExecutor(7) as pool:
        pages += list(pool.map(send, range(1, 8)))
    assert Prediction.objects.count() == 8 and len(set(Prediction.objects.values_list("uploader", flat=True))) == 1
    for url in pages:
        assert 'id="delete-button"' in browser.get(live_server.url + url, timeout=30).text, url
    stranger = requests.Session()
    stranger.get(live_server.url + "/", timeout=30)
    assert 'id="delete-button"' not in stranger.get(live_server.url + pages[0], timeout=30).text
