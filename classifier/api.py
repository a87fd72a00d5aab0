"""JSON API for programs: POST /api/predictions/ and GET /api/predictions/<id>/."""
from functools import wraps

from django.http import JsonResponse
from django.urls import reverse
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
        "url": prediction.get_absolute_url(),
    }


@csrf_exempt  # a programs' API authenticated by nothing but rate limits; no cookies are used
@json_methods("POST")
@rate_limit_json("upload", "PETSITE_RATELIMIT_UPLOAD")
def create_prediction(request):
    try:
        prediction = services.submit_upload(uploaded_image(request))
    except UploadError as exc:
        return JsonResponse({"error": exc.message}, status=exc.status)
    return JsonResponse(
        {"id": prediction.pk, "status": prediction.status, "url": reverse("api:prediction", args=[prediction.pk])},
        status=202,
    )


@csrf_exempt  # read-only; other methods get a JSON 405 rather than an HTML CSRF page
@json_methods("GET", "HEAD")
@rate_limit_json("api", "PETSITE_RATELIMIT_API")
def get_prediction(request, pk):
    prediction = selectors.prediction_by_id(pk)
    if prediction is None:
        return JsonResponse({"error": f"No prediction with id {pk}."}, status=404)
    return JsonResponse(prediction_json(prediction))
