"""Issue 13, the documented API: /api/schema/ (OpenAPI 3) and /api/docs/ stay true to what the API answers.

- every field a prediction's JSON has is described (and nothing more), and the README names each one;
- the docs page's curl examples are run with real curl against a live server;
- schemathesis sends generated requests to every operation: no 5xx, and every answer matches the document.
"""
import json
import re
import shlex
import subprocess
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from django.urls import reverse

from classifier.api import prediction_json
from classifier.models import Prediction
from tests.classifier.conftest import BLUE, GREEN, RED, jpeg_bytes, upload_file

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[2] / "README.md"


def document(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    return response.json()


def test_schema_is_openapi_3_and_describes_every_endpoint(client):
    doc = document(client)
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {"/api/", "/api/predictions/", "/api/predictions/{id}/", "/api/schema/"}
    assert set(doc["paths"]["/api/predictions/"]) == {"get", "post"}
    assert "Location" in doc["paths"]["/api/predictions/"]["post"]["responses"]["202"]["headers"]


def test_every_field_of_a_prediction_is_documented_and_in_the_readme(client, make_prediction):
    body = prediction_json(make_prediction())
    described = document(client)["components"]["schemas"]["Prediction"]["properties"]
    assert set(body) == set(described)
    readme = README.read_text()
    for field in body:
        assert f"`{field}`" in readme, f"README does not document {field}"
    assert "/api/schema/" in readme and "/api/docs/" in readme


def test_docs_page_lists_endpoints_fields_errors_and_curl_examples(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    for field in document(client)["components"]["schemas"]["Prediction"]["properties"]:
        assert f'id="field-{field}"' in html
    for heading in ("POST /api/predictions/", "GET /api/predictions/", "GET /api/predictions/{id}/"):
        assert heading in html
    assert html.count('<pre class="curl">') >= 6 and '{"error": "what was wrong"}' in html


def test_docs_page_shows_code_as_code_not_raw_backticks(client):
    import re

    html = client.get("/api/docs/").content.decode()
    text = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    assert "`" not in text  # no Markdown left in what a person reads
    assert "<code>status</code> is <code>done</code>" in html
    assert '<code>{&quot;error&quot;: &quot;...&quot;}</code>' in html  # escaped inside, shown as code
    assert 'id="field-pet_score"><td><code>pet_score</code></td>' in html


def test_inline_code_filter_escapes_everything_else():
    from django.template import Context, Template

    rendered = Template("{% load petsite %}{{ t|inline_code }}").render(Context({"t": "a <b> `x<y>` and a lone ` tick"}))
    assert rendered == "a &lt;b&gt; <code>x&lt;y&gt;</code> and a lone  tick"


def test_location_header_and_unchanged_202_body(client):
    response = client.post(reverse("api:predictions"), {"image": upload_file()})
    assert response.status_code == 202
    assert set(response.json()) == {"id", "status", "url"} and response["Location"] == response.json()["url"]


def test_list_filters_and_cursor_pagination(client, make_prediction, staff_user):
    from classifier import services

    cat1, dog, cat2, fish = make_prediction(RED), make_prediction(GREEN), make_prediction(RED), make_prediction(BLUE)
    services.relabel(Prediction.objects.filter(pk=dog.pk), "dog", staff_user)
    first = client.get("/api/predictions/", {"limit": 2}).json()
    assert [p["id"] for p in first["results"]] == [fish.pk, cat2.pk] and first["next"]
    second = client.get(first["next"]).json()
    assert [p["id"] for p in second["results"]] == [dog.pk, cat1.pk] and second["next"] is None
    assert [p["id"] for p in client.get("/api/predictions/", {"label": "cat"}).json()["results"]] == [cat2.pk, cat1.pk]
    assert [p["id"] for p in client.get("/api/predictions/", {"reviewed": "yes"}).json()["results"]] == [dog.pk]
    since = Prediction.objects.get(pk=cat2.pk).created_at.isoformat()
    assert {p["id"] for p in client.get("/api/predictions/", {"since": since}).json()["results"]} == {cat2.pk, fish.pk}


def test_paging_goes_on_when_the_cursor_photo_was_deleted(client, make_prediction):
    older, cursor_photo, newer = make_prediction(RED), make_prediction(GREEN), make_prediction(BLUE)
    first = client.get("/api/predictions/", {"limit": 2}).json()
    assert [p["id"] for p in first["results"]] == [newer.pk, cursor_photo.pk]
    Prediction.objects.filter(pk=cursor_photo.pk).delete()
    second = client.get(first["next"]).json()
    assert [p["id"] for p in second["results"]] == [older.pk] and second["next"] is None


@pytest.mark.parametrize("query, words", [
    ({"label": "giraffe"}, "Unknown label"), ({"reviewed": "maybe"}, "reviewed must be"), ({"since": "yesterday"}, "since must be"),
    ({"limit": "0"}, "limit must be"), ({"cursor": "abc"}, "cursor is not valid"), ({"colour": "red"}, "Unknown query parameter"),
])
def test_bad_list_queries_get_clear_json_errors(client, query, words):
    response = client.get("/api/predictions/", query)
    assert response.status_code == 400 and words in response.json()["error"]


@pytest.mark.parametrize("path", ["/api/nothing/", "/api/predictions/abc/", "/api/predictions/1/extra/", "/api/predictions/99999999999999999999/"])
def test_every_api_address_answers_json(client, path):
    response = client.get(path)
    assert response.status_code == 404 and response["Content-Type"] == "application/json" and "error" in response.json()


def test_api_index(client):
    assert client.get("/api/").json() == {"predictions": "/api/predictions/", "schema": "/api/schema/", "docs": "/api/docs/"}


@pytest.mark.django_db(transaction=True)
def test_the_docs_curl_examples_work(client, live_server, tmp_path):
    (tmp_path / "cat.jpg").write_bytes(jpeg_bytes())
    (tmp_path / "notes.txt").write_text("not a photo")
    html = client.get("/api/docs/").content.decode()
    commands = [re.sub(r"<[^>]+>", "", c).replace("&#x27;", "'").replace("&amp;", "&")
                for c in re.findall(r'<pre class="curl"><code>(.*?)</code></pre>', html, re.S)]
    assert commands
    created = None
    for command in commands:
        command = command.replace("http://testserver", live_server.url)
        if created:
            command = command.replace("/api/predictions/7/", f"/api/predictions/{created}/")
        args = shlex.split(command)
        assert args[0] == "curl"
        result = subprocess.run([*args, "-s", "-w", "\n%{http_code}"], cwd=tmp_path, capture_output=True, text=True, timeout=30)
        body, status = result.stdout.rsplit("\n", 1)
        data = json.loads(body)
        if "notes.txt" in command:
            assert status == "400" and data["error"]
        elif "999999" in command:
            assert status == "404" and data == {"error": "No prediction with id 999999."}
        elif "-F" in args:
            assert status == "202" and data["status"] == "pending"
            created = data["id"]
        else:
            assert status == "200", (command, body)


def _schema_for_the_app():
    """The served document, driving the site's WSGI app in process (the test database, the tiny model)."""
    from django.core.wsgi import get_wsgi_application

    from classifier.openapi import openapi_document

    schema = schemathesis.openapi.from_dict(openapi_document())
    schema.app = get_wsgi_application()
    return schema


api_schema = _schema_for_the_app()


@api_schema.parametrize()
@hypothesis.settings(max_examples=25, deadline=None, suppress_health_check=list(hypothesis.HealthCheck))
@pytest.mark.filterwarnings("ignore")
def test_generated_requests_get_documented_answers(case, make_prediction):
    # (make_prediction: a database to answer from; the autouse fixtures give each test its media folder and tiny model)
    from schemathesis.checks import (content_type_conformance, not_a_server_error, response_headers_conformance,
                                     response_schema_conformance, status_code_conformance)

    case.call_and_validate(checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                   response_headers_conformance, response_schema_conformance])


def test_the_schema_tested_is_the_schema_served(client):
    from classifier.openapi import openapi_document

    served = document(client)
    assert {**served, "servers": None} == {**openapi_document(), "servers": None}
