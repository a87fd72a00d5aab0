"""Whose photo is it: the browser that uploaded it may delete it, even when its page's script sent several photos at
once (parallel requests of one session used to overwrite each other's record of what the session uploaded). On the
real server the README starts, over SQLite and PostgreSQL."""
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import color_image_bytes

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.mark.parametrize("stack_name", ["sqlite_stack", "postgres_stack"])
def test_every_photo_of_a_parallel_batch_belongs_to_the_browser_that_sent_it(request, stack_name):
    stack = request.getfixturevalue(stack_name)
    browser = requests.Session()
    assert browser.get(stack.url + "/", timeout=30).status_code == 200  # the page the script runs on
    assert "sessionid" not in browser.cookies  # a visit alone stores no session
    token = browser.cookies["csrftoken"]

    def send(i):
        photo = color_image_bytes((10 * i, 200 - 10 * i, 90))
        response = browser.post(stack.url + "/", files={"image": (f"pet{i}.jpg", photo, "image/jpeg")},
                                headers={"Accept": "application/json", "X-CSRFToken": token, "Referer": stack.url + "/"},
                                timeout=60)
        assert response.status_code == 202, response.text[:300]
        return response.json()["page_url"]

    pages = [send(0)]  # as the page's script does: the first alone (it starts the session), then the rest in parallel
    with ThreadPoolExecutor(7) as pool:
        pages += list(pool.map(send, range(1, 8)))
    for url in pages:
        assert 'id="delete-button"' in browser.get(stack.url + url, timeout=30).text, url
    stranger = requests.Session()
    stranger.get(stack.url + "/", timeout=30)
    assert 'id="delete-button"' not in stranger.get(stack.url + pages[0], timeout=30).text
