from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from ingestion.images import ACCEPTED_FORMATS_TEXT, UPLOAD_ACCEPT
from ingestion.labels import display_name
from petsite.ratelimit import check_rate

from . import selectors, services
from .forms import HistoryFilterForm, UploadForm
from .models import Prediction
from .ownership import ensure_uploader, owner_or_staff, owns, uploader_of
from .uploads import UploadError, clean_filename, uploaded_image


def _wants_json(request):
    return "application/json" in request.headers.get("Accept", "")


def _missing_photo(request):
    """The site's own 404 page for a prediction that is not there (deleted, or never made): in the site's style even
    while DEBUG is on (Django's technical 404 page is for developers, and a deleted photo's link is an ordinary case)."""
    return render(request, "404.html", {"missing_photo": True}, status=404)


@require_http_methods(["GET", "POST"])
def home(request):
    # The form only renders the field: validation is submit_upload's, so each problem gets one message.
    # The page's script posts here too (Accept: application/json), one photo per request, and gets JSON back.
    form = UploadForm()
    status = 200
    limited = None
    upload_error = problem = None
    if request.method == "POST":
        limited = check_rate(request, "upload", settings.PETSITE_RATELIMIT_UPLOAD)
        upload = None
        try:
            if limited:
                raise UploadError(limited.message, status=429)
            upload = uploaded_image(request)
            ensure_uploader(request)
            prediction = services.submit_upload(upload, uploader=uploader_of(request))
        except UploadError as exc:
            upload_error = problem = exc.page_message  # a person's words (the API's may name the form field)
            status = exc.status
            if upload is not None and upload.name:
                upload_error = f"{clean_filename(upload.name)}: {problem}"
        else:
            if _wants_json(request):
                response = JsonResponse({
                    "id": prediction.pk, "status": prediction.status, "url": reverse("api:prediction", args=[prediction.pk]),
                    "page_url": prediction.get_absolute_url(), "tile_url": reverse("classifier:tile", args=[prediction.pk]),
                }, status=202)
                response["Location"] = prediction.get_absolute_url()
                return response
            return redirect(prediction)
        if _wants_json(request):
            # `error` names the file; `problem` is the same message without the name (the script names the file itself).
            response = JsonResponse({"error": upload_error, "problem": problem}, status=status)
            if limited:
                response["Retry-After"] = str(limited.retry_after)
            return response
    response = render(
        request,
        "classifier/home.html",
        {"form": form, "upload_error": upload_error, "recent": selectors.recent_predictions(), "model_status": selectors.live_model_status(),
         "max_mb": settings.PETSITE_MAX_UPLOAD_BYTES // 1_000_000, "max_bytes": settings.PETSITE_MAX_UPLOAD_BYTES,
         "max_files": MAX_FILES_AT_ONCE, "accept": UPLOAD_ACCEPT, "formats": ACCEPTED_FORMATS_TEXT},
        status=status,
    )
    if limited:
        response["Retry-After"] = str(limited.retry_after)
    return response


MAX_FILES_AT_ONCE = 20


@require_safe
def prediction_detail(request, pk):
    prediction = selectors.prediction_or_none(pk)
    if prediction is None:
        return _missing_photo(request)
    services.ensure_display_copy(prediction)
    own = owns(request, prediction)
    prediction.original_visible = own or request.user.is_staff
    answer = selectors.prediction_answer(prediction)
    return render(request, "classifier/prediction.html", {
        "prediction": prediction, "answer": answer, "own": own, "can_retry": prediction.original_visible,
        "slow": selectors.is_slow(prediction), "slow_after": selectors.PENDING_SLOW_SECONDS,
        "failure": selectors.failure_explanation(prediction) if prediction.status == Prediction.Status.FAILED else None,
    })


@require_safe
def prediction_tile(request, pk):
    """One history tile (HTML fragment): the home page's upload grid swaps it in when an answer arrives."""
    prediction = get_object_or_404(Prediction, pk=pk)
    prediction.original_visible = owner_or_staff(request, prediction)
    return render(request, "classifier/_tile.html", {"prediction": prediction})


@require_POST
def retry_prediction(request, pk):
    prediction = selectors.prediction_or_none(pk)
    if prediction is None:
        return _missing_photo(request)
    if not owner_or_staff(request, prediction):
        messages.error(request, "Only the person who uploaded a photo (from the browser they uploaded it with) or our team can "
                                "try it again.")
        return redirect("classifier:prediction", pk=pk)
    limited = check_rate(request, "upload", settings.PETSITE_RATELIMIT_UPLOAD)
    if limited:
        messages.error(request, limited.message)
    else:
        services.retry_prediction(pk)
    return redirect("classifier:prediction", pk=pk)


@require_http_methods(["GET", "POST"])
def delete_prediction(request, pk):
    """The uploader deletes their own photo (this browser session uploaded it): the row and every file go.

    Two steps, with or without JavaScript: the page's "Delete my photo…" button asks for this page (GET), which asks
    to confirm; only its POST with confirm=yes deletes (any other POST shows the question again)."""
    prediction = selectors.prediction_or_none(pk)
    if prediction is None:
        return _missing_photo(request)
    if not owns(request, prediction):
        messages.error(request, "Only the person who uploaded a photo can delete it, from the browser they uploaded it with.")
        return redirect(prediction)
    if request.method != "POST" or request.POST.get("confirm") != "yes":
        prediction.original_visible = True  # its uploader's
        return render(request, "classifier/delete_confirm.html",
                      {"prediction": prediction, "answer": selectors.prediction_answer(prediction, with_borderline=False)})
    services.delete_predictions(Prediction.objects.filter(pk=prediction.pk))
    messages.success(request, "Your photo was deleted. It is gone from the site and left out of every training set built from now on.")
    return redirect("classifier:home")


def _history_page(paginator, asked):
    """(page, message): the page asked for, else the nearest one and a message saying so (like a bad filter value)."""
    if asked in (None, ""):
        return paginator.page(1), None
    try:
        number = int(asked)
    except (TypeError, ValueError):
        return paginator.page(1), f"“{asked}” is not a page number; showing page 1."
    last = paginator.num_pages
    if 1 <= number <= last:
        return paginator.page(number), None
    nearest = 1 if number < 1 else last
    return paginator.page(nearest), f"There is no page {number}; showing page {nearest} of {last}."


@require_safe
def history(request):
    form = HistoryFilterForm(request.GET or None)
    filter_errors = []
    cleaned = {}
    if form.is_bound:
        form.is_valid()
        cleaned = form.cleaned_data  # the valid filters; a bad value is reported and that filter left off
        filter_errors = [" ".join(errors) for errors in form.errors.values()]
    predictions = selectors.filter_predictions(answer=cleaned.get("label", ""), reviewed=cleaned.get("reviewed", ""))
    page, page_error = _history_page(Paginator(predictions, settings.PETSITE_PAGE_SIZE), request.GET.get("page"))
    if page_error:
        filter_errors.append(page_error)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "classifier/history.html", {
        "page": page, "form": form, "query": query.urlencode(), "filter_errors": filter_errors,
        "filter_name": display_name(cleaned.get("label", "")),
    })
