"""The public pages as a tester found them: a deleted photo's link, a "not a pet" answer's closest pets and heat map
caption, the upload form's words, the API docs' link and rate limits (Django test client)."""
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from classifier.models import Prediction
from tests.classifier.conftest import upload_file

pytestmark = pytest.mark.django_db

SHARES = {"bird": 0.1, "cat": 0.3, "dog": 0.05, "dragon": 0.4, "fish": 0.1, "hamster": 0.05}


def done(label, pet_score, confidence, probabilities=SHARES, **extra):
    return Prediction.objects.create(
        image="uploads/x.jpg", display_image="display/x.jpg", status="done", label=label, pet_score=pet_score,
        confidence=confidence, probabilities=probabilities, model_version="v-test", width=10, height=10, completed_at=timezone.now(), **extra,
    )


def visible(html):
    html = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def bar_labels(html):
    section = html.split('id="bars"')[1].split("</ul>")[0]
    return re.findall(r'<li data-label="([a-z]+)"', section)


# 1. A deleted or unknown photo's link: the site's own page, status 404, even with DEBUG on (the dev server's).

@pytest.mark.parametrize("method, name", [("get", "prediction"), ("get", "delete"), ("post", "delete"), ("post", "retry")])
@pytest.mark.parametrize("pk", [424242, 2**63, 2**64])
def test_a_deleted_or_unknown_photo_gets_the_sites_own_404_page(client, settings, method, name, pk):
    settings.DEBUG = True  # Django's yellow technical page is what DEBUG shows for a raised Http404
    response = getattr(client, method)(reverse(f"classifier:{name}", args=[pk]))
    assert response.status_code == 404
    html = response.content.decode()
    assert "Using the URLconf" not in html and "technical_404" not in html and "Page not found at" not in html
    assert "<title>Photo not found · petsite</title>" in html
    assert "This photo was deleted, or it never existed." in visible(html)
    assert f'<a class="button" href="{reverse("classifier:home")}">Upload a photo</a>' in html
    assert f'href="{reverse("classifier:history")}"' in html and 'class="brand"' in html


def test_a_photo_deleted_by_its_uploader_then_opened_again_says_so(client, settings, django_capture_on_commit_callbacks):
    settings.DEBUG = True
    client.post(reverse("classifier:home"), {"image": upload_file("mine.jpg")})
    prediction = Prediction.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("classifier:delete", args=[prediction.pk]), {"confirm": "yes"})
    response = client.get(prediction.get_absolute_url())
    assert response.status_code == 404 and "This photo was deleted, or it never existed." in visible(response.content.decode())


def test_any_other_missing_page_is_in_the_sites_style_in_production(client, settings):
    settings.DEBUG = False
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "<title>Page not found · petsite</title>" in html and 'class="brand"' in html
    assert "<h1>Page not found</h1>" in html and "Upload a photo" in html and "Browse past predictions" in html
    # The API keeps its JSON 404.
    api = client.get("/api/nothing-here/")
    assert api.status_code == 404 and api.json()["error"].startswith("No API endpoint")


# 2. A "not a pet" answer's closest pets: most alike first; none worth naming: one sentence; an honest heat map caption.

def test_not_a_pet_lists_its_closest_pets_most_alike_first(client):
    html = client.get(done("unknown", pet_score=0.5, confidence=0.5).get_absolute_url()).content.decode()
    # 0.5 x shares: dragon 20%, cat 15%, bird 5%, fish 5%, dog 3%, hamster 3% (equal ones keep the six pets' order)
    assert bar_labels(html) == ["dragon", "cat", "bird", "fish", "dog", "hamster"]
    assert 'id="heatmap-caption">Where the photo looked most like a bearded dragon</p>' in html
    assert "Where the model saw" not in html


def test_a_pet_answer_keeps_the_six_pets_in_their_order(client):
    html = client.get(done("dragon", pet_score=0.9, confidence=0.4).get_absolute_url()).content.decode()
    assert bar_labels(html) == ["bird", "cat", "dog", "dragon", "fish", "hamster"]
    assert 'id="heatmap-caption">Where the model saw a bearded dragon</p>' in html


def test_not_a_pet_with_every_pet_under_one_percent_says_so_in_one_sentence_and_claims_no_pet(client):
    html = client.get(done("unknown", pet_score=0.004, confidence=0.4).get_absolute_url()).content.decode()
    result = visible(html.split('id="result"')[1])
    assert '<ul class="bars" id="bars">' not in html and 'class="pct"' not in html  # no six "under 1%" rows
    assert "The model saw no sign of any of the six pets in this photo: each is under 1%." in result
    assert "resembles most" not in result
    # No heat map of a pet it did not see: an empty caption, which the script reads as "no heat map".
    assert 'id="heatmap-caption"></p>' in html and "Where the model saw" not in html


# 3. The heat map's caption and colour key show with the heat map only (the script unhides them with it).

def test_the_heat_map_caption_is_hidden_with_the_heat_map_and_has_a_colour_key(client):
    html = client.get(done("fish", pet_score=0.9, confidence=0.9).get_absolute_url()).content.decode()
    key = re.search(r'<div class="heatmap-key" id="heatmap-key" hidden>(.*?)</div>', html, re.S)
    assert key, "the caption and the key sit in one hidden box"
    assert 'id="heatmap-caption">Where the model saw a fish</p>' in key.group(1)
    assert "The warmer the colour, the more that part of the photo counted" in visible(key.group(1))
    assert "{#" not in html and "#}" not in html and "{%" not in html  # no template comment leaks onto the page


# 4. The upload form's words: no developer detail on the page; the API still names its form field.

def test_no_file_on_the_form_says_so_without_developer_words(client):
    page = client.post(reverse("classifier:home"), {})
    assert page.status_code == 400
    html = page.content.decode()
    assert "No file was sent. Choose a JPEG, PNG, WebP, HEIC or AVIF photo." in html
    assert "form field" not in html
    script = client.post(reverse("classifier:home"), {}, HTTP_ACCEPT="application/json").json()
    assert script["problem"] == "No file was sent. Choose a JPEG, PNG, WebP, HEIC or AVIF photo."
    api = client.post(reverse("api:predictions"), {})
    assert api.status_code == 400 and "(form field 'image')" in api.json()["error"]


# 5. The API docs: linked from every page's footer; the rate limits in an API user's words.

def test_every_public_page_links_to_the_api_docs_in_its_footer(client):
    docs = reverse("api:docs")
    for url in [reverse("classifier:home"), reverse("classifier:history"), docs]:
        html = client.get(url).content.decode()
        footer = html.split("<footer")[1].split("</footer>")[0]
        assert f'<a href="{docs}">API</a>' in footer, url


@pytest.mark.parametrize("upload, api, words", [
    ("0", "0", "This server does not limit how often you call the API."),
    ("30/m", "600/m", "Each client (IP address) may make up to 30 uploads a minute (POST /api/predictions/, counted together "
                      "with the site's upload form) and up to 600 requests a minute that read predictions (GET /api/predictions/ "
                      "and GET /api/predictions/{id}/). Past that the answer is 429, with a Retry-After header saying how many "
                      "seconds to wait."),
])
def test_the_api_docs_say_the_rate_limits_in_force_without_server_settings(client, settings, upload, api, words):
    settings.PETSITE_RATELIMIT_UPLOAD, settings.PETSITE_RATELIMIT_API = upload, api
    html = client.get(reverse("api:docs")).content.decode()
    assert "PETSITE_" not in html and "DEBUG" not in html
    limits = re.search(r'<p id="rate-limits">(.*?)</p>', html, re.S).group(1)
    assert re.sub(r"<[^>]+>", "", limits).replace("&#x27;", "'") == "Rate limits. " + words
    assert "No authentication." in html  # the rest of the description stays
    schema = client.get(reverse("api:schema")).content.decode()  # the machine-readable description names no settings either
    assert "PETSITE_" not in schema and "DEBUG" not in schema
