"""The staff review queue: one prediction at a time, most uncertain first, decided with one key.

Thin views over classifier.selectors (order, counts, history) and classifier.services (decisions through the
relabel services). The skipped photos and the undo stack live in the reviewer's session.
"""
from datetime import date

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from ingestion.labels import CLASS_KEYS, CLASSES, UNKNOWN, display_name

from . import selectors, services

SKIPPED = "review_skipped"
UNDO = "review_undo"
UNDO_DEPTH = 50
LAST_ACTION = "review_last_action"  # what the last key did, said once on the next page ("Saved: ...", "Undone: ...")
# Keys: 1-6 the classes (ingestion.labels.CLASS_KEYS), 0 or u "not a pet".


def _filters(params):
    """The queue's filters from a query string (bad values ignored)."""
    def day(name):
        try:
            return date.fromisoformat(params.get(name, ""))
        except ValueError:
            return None

    label = params.get("label", "")
    return {
        "label": label if label in (*CLASSES, UNKNOWN) else "",
        "model_version": params.get("model_version", "")[:80],
        "since": day("since"),
        "until": day("until"),
    }


def _query(params):
    """The filter part of a query string, carried from page to page."""
    kept = QueryDict(mutable=True)
    for name in ("label", "model_version", "since", "until", "all"):
        if params.get(name):
            kept[name] = params[name]
    return kept.urlencode()


def _queue_url(query, prediction_id=None):
    url = reverse("review:queue")
    parts = [part for part in (query, f"id={prediction_id}" if prediction_id else "") if part]
    return url + ("?" + "&".join(parts) if parts else "")


def _last_action_words(entry):
    """What the reviewer's last key did, in words (the queue says it above the undo button)."""
    if entry["kind"] == "skip":
        return f"#{entry['pk']} skipped"
    decision = entry.get("decision")
    if decision == "confirm":
        return f"#{entry['pk']}: the model's answer confirmed"
    return f"#{entry['pk']} labelled {display_name(decision)}" if decision else f"#{entry['pk']} labelled"


@staff_member_required
@require_safe
def queue(request):
    filters = _filters(request.GET)
    include_reviewed = request.GET.get("all") == "1"
    skipped = request.session.get(SKIPPED, [])
    prediction = None
    wanted = request.GET.get("id", "")
    if wanted.isdigit():
        prediction = selectors.prediction_by_id(int(wanted))
    if prediction is None:
        order = selectors.review_queue(skipped=skipped, include_reviewed=include_reviewed, **filters)
        prediction = selectors.prediction_by_id(order[0]) if order else None
    if prediction is not None:
        prediction.original_visible = True  # a staff page
    undo = request.session.get(UNDO, [])
    context = {
        "prediction": prediction,
        "sure": selectors.answer_sureness(prediction) if prediction else None,
        "share": selectors.answer_share(prediction) if prediction else None,
        "history": selectors.label_history(prediction) if prediction else [],
        "counts": selectors.review_counts(skipped=skipped, user=request.user, **filters),
        "filters": filters,
        "include_reviewed": include_reviewed,
        "query": _query(request.GET),
        "class_keys": CLASS_KEYS,
        "label_choices": [(label, display_name(label)) for label in (*CLASSES, UNKNOWN)],
        "model_versions": selectors.review_model_versions(),
        "can_undo": bool(undo),
        "last_action": request.session.pop(LAST_ACTION, ""),
        "unknown": UNKNOWN,
    }
    return render(request, "classifier/review_queue.html", context)


@staff_member_required
@require_POST
@permission_required("classifier.change_prediction", raise_exception=True)
def decide(request, pk):
    decision = request.POST.get("decision", "")
    query = request.POST.get("q", "")
    undo = request.session.get(UNDO, [])
    if decision == "skip":
        skipped = request.session.get(SKIPPED, [])
        if pk not in skipped:
            skipped.append(pk)
        request.session[SKIPPED] = skipped
        undo.append({"pk": pk, "kind": "skip"})
    else:
        try:
            earlier = services.review_decision(pk, decision, request.user)
        except ValueError:
            return redirect(_queue_url(query, pk))
        skipped = request.session.get(SKIPPED, [])
        if pk in skipped:
            skipped.remove(pk)
            request.session[SKIPPED] = skipped
        undo.append({"pk": pk, "kind": "decision", "earlier": earlier, "decision": decision})
    request.session[UNDO] = undo[-UNDO_DEPTH:]
    request.session[LAST_ACTION] = f"Saved: {_last_action_words(undo[-1])}."
    return redirect(_queue_url(query))


@staff_member_required
@require_POST
@permission_required("classifier.change_prediction", raise_exception=True)
def undo(request):
    query = request.POST.get("q", "")
    stack = request.session.get(UNDO, [])
    if not stack:
        return redirect(_queue_url(query))
    last = stack.pop()
    request.session[UNDO] = stack
    undone = True
    if last["kind"] == "skip":
        skipped = request.session.get(SKIPPED, [])
        if last["pk"] in skipped:
            skipped.remove(last["pk"])
        request.session[SKIPPED] = skipped
    elif not services.undo_review_decision(last["pk"], last["earlier"], request.user, decision=last.get("decision")):
        undone = False
        messages.warning(request, f"Prediction #{last['pk']} not undone: its label was changed since (or it was deleted).")
    if undone:
        request.session[LAST_ACTION] = f"Undone: {_last_action_words(last)}."
    return redirect(_queue_url(query, last["pk"]))
