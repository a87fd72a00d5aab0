"""Curating scraped photos (staff): a grid, likely-wrong photos first, accepted or rejected with one key or in bulk.

Thin views over ingestion.selectors (order, counts) and ingestion.services (curate_photos, undo_curation). The undo
stack lives in the curator's session.
"""
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from . import selectors, services
from .labels import CLASS_KEYS, CLASSES, display_name
from .models import ScrapedPhoto

UNDO = "curation_undo"
UNDO_DEPTH = 30
PAGE = 60


def _wants_json(request):
    return "application/json" in request.headers.get("Accept", "")


@staff_member_required
@require_safe
def curate(request):
    state = request.GET.get("state", ScrapedPhoto.Review.PENDING)
    state = state if state in (*ScrapedPhoto.Review.values, "") else ScrapedPhoto.Review.PENDING
    label = request.GET.get("label", "")
    label = label if label in CLASSES else ""
    items = selectors.curation_queue(state=state, label=label)
    return render(request, "ingestion/curate.html", {
        "items": items[:PAGE], "more": max(0, len(items) - PAGE), "likely_wrong": sum(item.likely_wrong for item in items),
        "counts": selectors.curation_counts(), "state": state, "label": label, "states": ScrapedPhoto.Review.choices,
        "classes": [(value, display_name(value)) for value in CLASSES], "class_keys": CLASS_KEYS,
        "can_undo": bool(request.session.get(UNDO)),
    })


def _states(ids):
    return {str(photo.pk): {"state": photo.review_state, "label": photo.dataset_label, "text": selectors.review_state_text(photo)}
            for photo in selectors.scraped_photos_by_ids(ids)}


@staff_member_required
@require_POST
@permission_required("ingestion.change_scrapedphoto", raise_exception=True)
def decide(request):
    ids = [int(value) for value in request.POST.getlist("ids") if value.isdigit()][:500]
    decision = request.POST.get("decision", "")
    label = ""
    if decision in CLASSES:  # a class key: accept under that class
        decision, label = "accept", request.POST["decision"]
    if not ids or decision not in ("accept", "reject"):
        if _wants_json(request):
            return JsonResponse({"error": "Choose photos and accept or reject."}, status=400)
        return redirect(reverse("ingestion_curation:curate") + "?" + request.POST.get("q", ""))
    before = services.curate_photos(selectors.scraped_photos_by_ids(ids), decision, request.user, label=label)
    stack = request.session.get(UNDO, [])
    stack.append([review.as_dict() for review in before])
    request.session[UNDO] = stack[-UNDO_DEPTH:]
    if _wants_json(request):
        return JsonResponse({"photos": _states(ids), "counts": selectors.curation_counts()})
    return redirect(reverse("ingestion_curation:curate") + "?" + request.POST.get("q", ""))


@staff_member_required
@require_POST
@permission_required("ingestion.change_scrapedphoto", raise_exception=True)
def undo(request):
    stack = request.session.get(UNDO, [])
    ids = []
    if stack:
        before = [services.PhotoReview.from_dict(data) for data in stack.pop()]
        request.session[UNDO] = stack
        services.undo_curation(before)
        ids = [review.pk for review in before]
    if _wants_json(request):
        return JsonResponse({"photos": _states(ids), "counts": selectors.curation_counts(), "undone": ids})
    return redirect(reverse("ingestion_curation:curate") + "?" + request.POST.get("q", ""))
