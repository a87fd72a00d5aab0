"""JSON API for programs: POST /api/predictions/ and GET /api/predictions/<id>/."""
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from petsite.ratelimit import rate_limit_json

from . import services
from .models import Prediction
from .uploads import UploadError, uploaded_image


def prediction_json(prediction, request=None):
    return {
        "id": prediction.pk,
        "status": prediction.status,
        "label": prediction.label or None,
        "confidence": prediction.confidence,
        "probabilities": prediction.probabilities or {},
        "model_version": prediction.model_version or None,
        "created_at": prediction.created_at.isoformat() if prediction.created_at else None,
        "completed_at": prediction.completed_at.isoformat() if prediction.completed_at else None,
        "true_label": prediction.true_label or None,
        "error": prediction.error or None,
        "image_url": prediction.image.url if prediction.image else None,
        "url": prediction.get_absolute_url(),
    }


@csrf_exempt  # a programs' API authenticated by nothing but rate limits; no cookies are used
@require_POST
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


@require_GET
@rate_limit_json("api", "PETSITE_RATELIMIT_API")
def get_prediction(request, pk):
    prediction = get_object_or_404(Prediction, pk=pk)
    return JsonResponse(prediction_json(prediction))
