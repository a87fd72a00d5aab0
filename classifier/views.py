from django.conf import settings
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from ingestion.labels import CLASSES, display_name
from petsite.ratelimit import check_rate

from . import selectors, services
from .forms import HistoryFilterForm, UploadForm
from .models import Prediction
from .uploads import UploadError, uploaded_image


@require_http_methods(["GET", "POST"])
def home(request):
    # The form only renders the field: validation is submit_upload's, so each problem gets one message.
    form = UploadForm()
    status = 200
    limited = None
    upload_error = None
    if request.method == "POST":
        limited = check_rate(request, "upload", settings.PETSITE_RATELIMIT_UPLOAD)
        try:
            if limited:
                raise UploadError(limited.message, status=429)
            prediction = services.submit_upload(uploaded_image(request))
        except UploadError as exc:
            upload_error = exc.message
            status = exc.status
        else:
            return redirect(prediction)
    response = render(
        request,
        "classifier/home.html",
        {"form": form, "upload_error": upload_error, "recent": selectors.recent_predictions(), "model_status": selectors.live_model_status(),
         "max_mb": settings.PETSITE_MAX_UPLOAD_BYTES // 1_000_000},
        status=status,
    )
    if limited:
        response["Retry-After"] = str(limited.retry_after)
    return response


@require_safe
def prediction_detail(request, pk):
    prediction = get_object_or_404(Prediction, pk=pk)
    names = {label: display_name(label) for label in CLASSES}
    return render(request, "classifier/prediction.html", {"prediction": prediction, "display_names": names})


@require_safe
def history(request):
    form = HistoryFilterForm(request.GET or None)
    predictions = selectors.filter_predictions(**form.cleaned_data) if form.is_valid() else selectors.filter_predictions()
    page = Paginator(predictions, settings.PETSITE_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "classifier/history.html", {"page": page, "form": form, "query": query.urlencode()})
