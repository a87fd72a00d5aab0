"""The OpenAPI 3 description of the JSON API (served at /api/schema/) and the docs page built from it (/api/docs/).

Written by hand beside classifier/api.py, and kept true by tests: tests/classifier/test_api_docs.py checks every field
the API answers is described here (and nothing more), and runs the curl examples; a property-based test
(schemathesis) sends generated requests and checks each answer against this document.
"""
from django.conf import settings

from ingestion.images import ACCEPTED_FORMATS_TEXT
from ingestion.labels import CLASSES, LABEL_CHOICES, UNKNOWN, display_name

LABELS = [value for value, _ in LABEL_CHOICES]


def _nullable(schema, description):
    return {**schema, "nullable": True, "description": description}


def _json(description, schema_name, **more):
    """A response whose JSON body is the component schema `schema_name`."""
    return {"description": description, **more, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}}}


def _error(description):
    return _json(description, "Error")


TOO_MANY_REQUESTS = _error("Too many requests from this client.")


PREDICTION_FIELDS = {
    "id": {"type": "integer", "description": "The prediction's id."},
    "status": {"type": "string", "enum": ["pending", "done", "failed"],
               "description": "`pending` while a worker classifies the photo, then `done`, or `failed` (see `error`)."},
    "label": _nullable({"type": "string", "enum": [*LABELS, None]},
                       f"The model's answer once done: one of {', '.join(CLASSES)}, or `{UNKNOWN}` (not a pet); null before."),
    "confidence": _nullable({"type": "number", "minimum": 0, "maximum": 1},
                            "For a pet `label`: its share among the six pets (its entry in `probabilities`); the site's "
                            "pages say how sure the model is overall, `confidence` x `pet_score`. For `unknown`: "
                            "1 - `pet_score` (without a pet score: 1 - the top class probability)."),
    "probabilities": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
                      "description": "Each pet class's probability (they add up to 1); for `unknown`, the closest pets. Empty before done."},
    "pet_score": _nullable({"type": "number", "minimum": 0, "maximum": 1},
                           "The model's belief that the photo shows one of the pets at all; below the model's unknown threshold "
                           "the answer is `unknown`. Null before done and for a model without a pet-score output (its top "
                           "class probability stands in for the threshold)."),
    "model_version": _nullable({"type": "string"}, "The model version that answered."),
    "created_at": {"type": "string", "format": "date-time", "description": "When the photo was uploaded (ISO 8601)."},
    "completed_at": _nullable({"type": "string", "format": "date-time"}, "When the answer (or the failure) was recorded."),
    "true_label": _nullable({"type": "string", "enum": [*LABELS, None]},
                            "The label our team gave after checking the photo (it wins over `label`); null until reviewed."),
    "error": _nullable({"type": "string"}, "Why a `failed` prediction failed, in words; null otherwise."),
    "image_url": _nullable({"type": "string"}, ("The uploaded photo as sent (the original file; a HEIC one downloads, browsers cannot show it). It may say "
                                                 "where the photo was taken, so only the browser that uploaded it through the site and staff can fetch it; "
                                                 "everyone else, API clients included, uses display_url.")),
    "display_url": _nullable({"type": "string"}, "A display-size JPEG copy (long side at most 1024 px): what the site shows."),
    "thumbnail_url": _nullable({"type": "string"}, "A small JPEG copy (at most 320 px) for lists."),
    "heatmap_url": _nullable({"type": "string"},
                             "An image of where in the photo the model looked for its answer, once made; null until then."),
    "url": {"type": "string", "description": "The prediction's page on the site."},
}


def openapi_document(request=None):
    server = request.build_absolute_uri("/").rstrip("/") if request is not None else ""
    max_mb = settings.PETSITE_MAX_UPLOAD_BYTES / 1e6
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "petsite API",
            "version": "1",
            "description": "Upload a photo and learn whether it shows a bird, cat, dog, bearded dragon, fish or hamster, or "
                           "none of them (`unknown`, \"Not a pet\"). Classification happens in the background: an upload answers "
                           "202 at once, then its prediction is polled until `status` is `done` or `failed`. Every error is "
                           "JSON: `{\"error\": \"...\"}`. No authentication. A server may limit how often each client (IP address) "
                           "uploads and reads; past a limit the answer is 429 with a Retry-After header (the docs page, "
                           "/api/docs/, says this server's limits).",
        },
        "servers": [{"url": server or "/"}],
        "paths": {
            "/api/": {"get": {
                "operationId": "index", "summary": "Where the API's parts are",
                "responses": {"200": _json("Links", "Index")},
            }},
            "/api/predictions/": {
                "post": {
                    "operationId": "createPrediction", "summary": "Upload a photo to classify",
                    "description": f"A {ACCEPTED_FORMATS_TEXT} photo of at most {max_mb:.0f} MB in the form field `image`. The photo is "
                                   "checked by decoding it; anything else is refused with 400 and nothing is stored.",
                    "requestBody": {"required": True, "content": {"multipart/form-data": {
                        "schema": {"type": "object", "required": ["image"],
                                   "properties": {"image": {"type": "string", "format": "binary", "description": "The photo."}}},
                    }}},
                    "responses": {
                        "202": _json("Stored and queued; poll `url` (also in the Location header) for the answer.", "Accepted",
                                     headers={"Location": {"description": "The prediction's API URL.", "schema": {"type": "string"}}}),
                        "400": _error(f"No file, an empty file, or not a {ACCEPTED_FORMATS_TEXT} image (damaged, animated, too many pixels)."),
                        "413": _error(f"The upload is over {max_mb:.0f} MB."),
                        "429": _error("Too many uploads from this client; try again after Retry-After seconds."),
                        "503": _error("The server could not store the photo (its storage is full or unavailable); nothing was kept."),
                    },
                },
                "get": {
                    "operationId": "listPredictions", "summary": "List predictions, newest first",
                    "parameters": [
                        {"name": "label", "in": "query", "schema": {"type": "string", "enum": LABELS},
                         "description": "Only predictions the model answered with this label."},
                        {"name": "reviewed", "in": "query", "schema": {"type": "string", "enum": ["yes", "no", "true", "false", "1", "0"]},
                         "description": "`yes`: only those our team checked; `no`: only those not checked."},
                        {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"},
                         "description": "Only predictions uploaded at or after this time (ISO 8601)."},
                        {"name": "cursor", "in": "query", "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"},
                         "description": "Where a page starts; take it from the previous page's `next` URL."},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                         "description": "Predictions per page (default 20, at most 100)."},
                    ],
                    "responses": {
                        "200": _json("One page", "PredictionList"),
                        "400": _error("A filter value is not valid (the message says which)."),
                        "429": TOO_MANY_REQUESTS,
                    },
                },
            },
            "/api/predictions/{id}/": {"get": {
                "operationId": "getPrediction", "summary": "One prediction",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1},
                                "description": "The prediction's id: the `id` the upload answered with (its `url` holds it too)."}],
                "responses": {
                    "200": _json("The prediction", "Prediction"),
                    "404": _error("No prediction with this id."),
                    "429": TOO_MANY_REQUESTS,
                },
            }},
            "/api/schema/": {"get": {
                "operationId": "schema", "summary": "This OpenAPI document",
                "responses": {"200": {"description": "OpenAPI 3", "content": {"application/json": {"schema": {"type": "object"}}}}},
            }},
        },
        "components": {"schemas": {
            "Prediction": {"type": "object", "required": list(PREDICTION_FIELDS), "properties": PREDICTION_FIELDS,
                           "additionalProperties": False},
            "Accepted": {"type": "object", "required": ["id", "status", "url"], "additionalProperties": False, "properties": {
                "id": {"type": "integer", "description": "The new prediction's id."},
                "status": {"type": "string", "enum": ["pending"], "description": "Always `pending` here."},
                "url": {"type": "string", "description": "Where to GET the prediction (the same as the Location header)."},
            }},
            "PredictionList": {"type": "object", "required": ["results", "next"], "additionalProperties": False, "properties": {
                "results": {"type": "array", "items": {"$ref": "#/components/schemas/Prediction"}, "description": "Newest first."},
                "next": {"type": "string", "nullable": True, "description": "The URL of the next (older) page; null on the last."},
            }},
            "Index": {"type": "object", "required": ["predictions", "schema", "docs"], "properties": {
                "predictions": {"type": "string"}, "schema": {"type": "string"}, "docs": {"type": "string"},
            }},
            "Error": {"type": "object", "required": ["error"], "properties": {
                "error": {"type": "string", "description": "What was wrong, in words a person can act on."},
            }},
        }},
    }


def curl_examples(base):
    """(what it does, command, what it answers) for the docs page; tests run each command."""
    return [
        ("Upload a photo", f"curl -F image=@cat.jpg {base}/api/predictions/",
         '202 {"id": 7, "status": "pending", "url": "/api/predictions/7/"}  (Location: /api/predictions/7/)'),
        ("Get its answer (repeat until status is done or failed)", f"curl {base}/api/predictions/7/",
         '{"id": 7, "status": "done", "label": "cat", "confidence": 0.98, "probabilities": {"bird": 0.0, ...}, "pet_score": 0.99, ...}'),
        ("List the newest checked dog photos", f"curl '{base}/api/predictions/?label=dog&reviewed=yes&limit=10'",
         '{"results": [...], "next": "http://.../api/predictions/?label=dog&reviewed=yes&limit=10&cursor=41"}'),
        ("Only those uploaded since a time", f"curl '{base}/api/predictions/?since=2026-01-31T00:00:00Z'",
         '{"results": [...], "next": null}'),
        ("A refused upload", f"curl -F image=@notes.txt {base}/api/predictions/",
         f'400 {{"error": "This file is not a {ACCEPTED_FORMATS_TEXT} image."}}'),
        ("An unknown prediction", f"curl {base}/api/predictions/999999/", '404 {"error": "No prediction with id 999999."}'),
        ("This description, as OpenAPI 3", f"curl {base}/api/schema/", '{"openapi": "3.0.3", ...}'),
    ]


def docs_context(request):
    document = openapi_document(request)
    base = request.build_absolute_uri("/").rstrip("/")
    operations = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            responses = [(code, response["description"]) for code, response in operation["responses"].items()]
            operations.append({"method": method.upper(), "path": path, "op": operation, "responses": responses,
                               "parameters": operation.get("parameters", [])})
    fields = [(name, schema_type(spec), spec.get("nullable", False), spec["description"]) for name, spec in PREDICTION_FIELDS.items()]
    labels = [(label, display_name(label)) for label in LABELS]
    return {"document": document, "operations": operations, "fields": fields, "examples": curl_examples(base), "labels": labels}


def schema_type(spec):
    if spec.get("type") == "object":
        return "object"
    return spec.get("format") or spec.get("type", "")
