"""JSON API for programs: POST /api/predictions/, GET /api/predictions/ (a list), GET /api/predictions/<id>/.

Described by the OpenAPI document at /api/schema/ (classifier/openapi.py) and the page /api/docs/.
Every answer under /api/ is JSON, errors included: {"error": "..."}.
"""
import hashlib
from functools import wraps

from django.http import HttpResponseNotModified, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from petsite.ratelimit import rate_limit_json

from . import selectors, services
from .uploads import UploadError, uploaded_image


def json_methods(*methods):
    """Allow only `methods`; anything else gets a JSON 405 (programs should never have to parse an HTML page)."""
    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                response = JsonResponse({"error": f"Method {request.method} not allowed; use {' or '.join(methods)}."}, status=405)
                response["Allow"] = ", ".join(methods)
                return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def prediction_json(prediction):
    return {
        "id": prediction.pk,
        "status": prediction.status,
        "label": prediction.label or None,
        "confidence": prediction.confidence,
        "probabilities": prediction.probabilities or {},
        "pet_score": prediction.pet_score,
        "model_version": prediction.model_version or None,
        "created_at": prediction.created_at.isoformat() if prediction.created_at else None,
        "completed_at": prediction.completed_at.isoformat() if prediction.completed_at else None,
        "true_label": prediction.true_label or None,
        "error": prediction.error or None,
        "image_url": prediction.image.url if prediction.image else None,
        "display_url": prediction.display_image.url if prediction.display_image else None,
        "thumbnail_url": prediction.thumbnail.url if prediction.thumbnail else None,
        "heatmap_url": _heatmap_url(prediction),
        "url": prediction.get_absolute_url(),
    }


def prediction_values_json(row):
    """prediction_json's answer from selectors.prediction_values (a dict of columns, no model instance)."""
    storage = _storage()
    return {
        "id": row["id"],
        "status": row["status"],
        "label": row["label"] or None,
        "confidence": row["confidence"],
        "probabilities": row["probabilities"] or {},
        "pet_score": row["pet_score"],
        "model_version": row["model_version"] or None,
        "created_at": row["created_at"].isoformat() if row["created_at"] else None,
        "completed_at": row["completed_at"].isoformat() if row["completed_at"] else None,
        "true_label": row["true_label"] or None,
        "error": row["error"] or None,
        "image_url": storage.url(row["image"]) if row["image"] else None,
        "display_url": storage.url(row["display_image"]) if row["display_image"] else None,
        "thumbnail_url": storage.url(row["thumbnail"]) if row["thumbnail"] else None,
        "heatmap_url": storage.url(row["heatmap"]) if row.get("heatmap") else None,
        "url": reverse("classifier:prediction", args=[row["id"]]),
    }


def _storage():
    from .models import Prediction

    return Prediction._meta.get_field("image").storage


def prediction_etag(row):
    """The entity tag of a finished prediction: what can still change it (a review, copies made later), nothing else.

    None for a pending one (it changes when the worker answers; not cached)."""
    if row["status"] == "pending":
        return None
    state = "|".join(str(row.get(name) or "") for name in (
        "id", "status", "completed_at", "true_label", "reviewed_at", "display_image", "thumbnail", "heatmap"))
    return '"%s"' % hashlib.blake2b(state.encode(), digest_size=12).hexdigest()


def _etag_matches(header, etag):
    if not header:
        return False
    tags = [tag.strip() for tag in header.split(",")]
    return "*" in tags or etag in tags or f"W/{etag}" in tags


def _heatmap_url(prediction):
    """Where the model looked (an image), once the worker made one; None until then or without one."""
    heatmap = getattr(prediction, "heatmap", None)
    return heatmap.url if heatmap else None


def error(message, status):
    return JsonResponse({"error": message}, status=status)


@csrf_exempt  # a programs' API authenticated by nothing but rate limits; no cookies are used
@json_methods("GET", "HEAD", "POST")
def predictions(request):
    """POST: upload a photo. GET: list predictions."""
    if request.method == "POST":
        return create_prediction(request)
    return list_predictions(request)


@rate_limit_json("upload", "PETSITE_RATELIMIT_UPLOAD")
def create_prediction(request):
    try:
        prediction = services.submit_upload(uploaded_image(request))
    except UploadError as exc:
        return JsonResponse({"error": exc.message}, status=exc.status)
    url = reverse("api:prediction", args=[prediction.pk])
    response = JsonResponse({"id": prediction.pk, "status": prediction.status, "url": url}, status=202)
    response["Location"] = url
    return response


LIST_LIMIT, MAX_LIST_LIMIT = 20, 100
REVIEWED_VALUES = {"yes": "yes", "true": "yes", "1": "yes", "no": "no", "false": "no", "0": "no"}


@rate_limit_json("api", "PETSITE_RATELIMIT_API")
def list_predictions(request):
    """Newest first, `limit` at a time; `next` is the URL of the following page (cursor pagination), or null."""
    from ingestion.labels import LABEL_CHOICES

    params = request.GET
    unknown = sorted(set(params) - {"label", "reviewed", "since", "cursor", "limit"})
    if unknown:
        return error(f"Unknown query parameter {unknown[0]!r}; use label, reviewed, since, cursor or limit.", 400)
    label = params.get("label", "")
    labels = [value for value, _ in LABEL_CHOICES]
    if label and label not in labels:
        return error(f"Unknown label {label!r}; use one of {', '.join(labels)}.", 400)
    reviewed = params.get("reviewed", "")
    if reviewed and reviewed.lower() not in REVIEWED_VALUES:
        return error(f"reviewed must be yes or no (or true / false), not {reviewed!r}.", 400)
    since = None
    if params.get("since"):
        try:
            since = parse_datetime(params["since"])
        except ValueError:
            since = None
        if since is None:
            return error(f"since must be an ISO 8601 date and time such as 2026-01-31T12:00:00Z, not {params['since']!r}.", 400)
        if since.tzinfo is None:
            from django.utils import timezone

            since = timezone.make_aware(since, timezone.get_default_timezone())
    try:
        limit = int(params.get("limit", LIST_LIMIT))
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise ValueError
    except ValueError:
        return error(f"limit must be a whole number from 1 to {MAX_LIST_LIMIT}.", 400)
    cursor = params.get("cursor")
    if cursor is not None and not (cursor.isascii() and cursor.isdigit() and len(cursor) < 19):
        return error("cursor is not valid; use the `next` URL of a previous page as it is.", 400)
    rows = selectors.filter_predictions(label=label, reviewed=REVIEWED_VALUES.get(reviewed.lower(), ""), since=since)
    page, more = selectors.predictions_page(rows, after=int(cursor) if cursor else None, limit=limit)
    next_url = None
    if more:
        query = params.copy()
        query["cursor"] = str(page[-1].pk)
        next_url = request.build_absolute_uri(f"{reverse('api:predictions')}?{query.urlencode()}")
    return JsonResponse({"results": [prediction_json(p) for p in page], "next": next_url})


@csrf_exempt  # read-only; other methods get a JSON 405 rather than an HTML CSRF page
@json_methods("GET", "HEAD")
@rate_limit_json("api", "PETSITE_RATELIMIT_API")
def get_prediction(request, pk):
    """One indexed query for the row's own columns. A finished prediction carries an ETag (its review state included)
    and `Cache-Control: no-cache`, so a poller that sends If-None-Match gets 304 without a body; a pending one is
    `no-store` (it changes when the worker answers)."""
    row = selectors.prediction_values(pk)
    if row is None:
        return JsonResponse({"error": f"No prediction with id {pk}."}, status=404)
    etag = prediction_etag(row)
    if etag is None:
        response = JsonResponse(prediction_values_json(row))
        response["Cache-Control"] = "no-store"
        return response
    if _etag_matches(request.headers.get("If-None-Match"), etag):
        response = HttpResponseNotModified()
    else:
        response = JsonResponse(prediction_values_json(row))
    response["ETag"] = etag
    response["Cache-Control"] = "public, no-cache"
    return response


@csrf_exempt
@json_methods("GET", "HEAD")
def index(request):
    """GET /api/: where the API's parts are."""
    return JsonResponse({
        "predictions": reverse("api:predictions"), "schema": reverse("api:schema"), "docs": reverse("api:docs"),
    })


@csrf_exempt
def not_found(request, rest=""):
    """Any other /api/ address: a JSON 404 (never Django's HTML page)."""
    return error(f"No API endpoint at {request.path}. See {reverse('api:docs')} for the endpoints.", 404)


@csrf_exempt
@json_methods("GET", "HEAD")
def schema(request):
    """The OpenAPI 3 document of this API."""
    from .openapi import openapi_document

    return JsonResponse(openapi_document(request), json_dumps_params={"indent": 1})


@json_methods("GET", "HEAD")
def docs(request):
    """A readable page of the same document: endpoints, fields, errors, curl examples."""
    from .openapi import docs_context

    return render(request, "classifier/api_docs.html", docs_context(request))
