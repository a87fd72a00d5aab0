"""Admin for comparisons: candidate and live model side by side (metrics, per-class recall and precision with their
differences, ECE, unknown rates, both confusion matrices, changed photos with thumbnails), and promoting from it:
"Promote…" (an optional note) when it is the candidate's current comparison and passed the rules, else "Promote
anyway…" (a reason required) or, when it is out of date, "Compare again".

Changed photos live outside MEDIA_ROOT (in the dataset version's folder or the benchmark folder): a staff-only view
serves them by (comparison, index), never by a path from the request, and only files inside those folders
(training.comparison.comparison_photo).
"""
import mimetypes

from django import forms
from django.contrib import admin, messages
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from ingestion.labels import UNKNOWN, display_name
from training.comparison import comparison_photo
from training.metrics import matrix_columns
from training.models import ModelComparison
from training.promotion import dispatch_background_promotion, failed_comparison, is_current_comparison, outdated_metrics, promote
from training.registry import NoModelAvailable

CHANGED_SHOWN = 200


def _pct(value):
    return "-" if value is None else f"{value:.1%}"


def _diff(value, higher_is_better=True):
    if value is None:
        return mark_safe("<span>-</span>")
    points = value * 100
    if abs(points) < 0.05:
        return mark_safe('<span style="color:#666">±0.0</span>')
    good = (points > 0) == higher_is_better
    return format_html('<span style="color:{};font-weight:bold">{}</span>', "#1a7f37" if good else "#c62828", f"{points:+.1f}")


def _confusion_table(title, matrix, classes):
    """Rows: the true classes; columns: the site's answers, the classes then "Not a pet" (when the model has a
    threshold: a row longer than the classes has that last column)."""
    columns = matrix_columns(matrix, classes)
    header = format_html_join("", "<th>{}</th>", ((name if name in classes else display_name(UNKNOWN),) for name in columns))
    rows = format_html_join(
        "", "<tr><th>{}</th>{}</tr>",
        ((name, format_html_join("", '<td style="text-align:right{}">{}</td>',
                                 ((";background:#e3f2fd" if i == j else "", value) for j, value in enumerate(row))))
         for i, (name, row) in enumerate(zip(classes, matrix))),
    )
    return format_html('<div style="max-width:100%"><h4>{}</h4><div style="overflow-x:auto"><table><tr><th>true \\ predicted</th>{}</tr>{}</table>'
                       '</div></div>', title, header, rows)


def comparison_html(comparison):
    """The side-by-side report of a ModelComparison."""
    if comparison.error:
        return format_html('<p class="errornote">{}</p>', comparison.error)
    results = comparison.results or {}
    if not results:
        return "-"
    live, candidate, difference, classes = results["live"], results["candidate"], results["difference"], results["classes"]
    summary = format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td></tr>", [
        ("accuracy", _pct(live["accuracy"]), _pct(candidate["accuracy"]), _diff(difference["accuracy"])),
        ("ECE (lower is better)", _pct(live["ece"]), _pct(candidate["ece"]), _diff(difference["ece"], False)),
        ('pets answered "not a pet"', _pct(live["pets_unknown_rate"]), _pct(candidate["pets_unknown_rate"]),
         _diff(difference["pets_unknown_rate"], False)),
        (f'non-pet photos answered "not a pet" ({candidate.get("other_images", 0)} held out)', _pct(live["other_unknown_rate"]),
         _pct(candidate["other_unknown_rate"]), _diff(difference["other_unknown_rate"])),
    ])
    per_class = format_html_join(
        "", "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        ((display_name(name), candidate["per_class"][name]["support"],
          _pct(live["recall"][name]), _pct(candidate["recall"][name]), _diff(difference["recall"][name]),
          _pct(live["precision"][name]), _pct(candidate["precision"][name]), _diff(difference["precision"][name]))
         for name in classes),
    )
    sets = ", ".join(f"{name}: {part['images']} photos" for name, part in (results.get("sets") or {}).items())
    return format_html(
        '<p>{} photos ({}). Differences are in percentage points, candidate minus live. Every figure counts the site\'s '
        'answer: "not a pet" under each model\'s own threshold is wrong on a pet photo.</p>'
        # Each table scrolls sideways in its own box: the admin's form rows clip what overflows (phones).
        '<div style="overflow-x:auto"><table><tr><th></th><th>live: {}</th><th>candidate: {}</th><th>difference</th></tr>{}</table></div>'
        '<h4>Per class</h4><div style="overflow-x:auto"><table><tr><th>class</th><th>test photos</th><th>recall live</th>'
        '<th>recall candidate</th><th>diff</th><th>precision live</th><th>precision candidate</th><th>diff</th></tr>{}</table></div>'
        '<div style="display:flex;gap:2em;flex-wrap:wrap">{}{}</div>',
        results["images"], sets, live["version"], candidate["version"], summary, per_class,
        _confusion_table(f"live: {live['version']}", live["confusion_matrix"], classes),
        _confusion_table(f"candidate: {candidate['version']}", candidate["confusion_matrix"], classes),
    )


def changed_html(comparison):
    changed = (comparison.results or {}).get("changed") or []
    if not changed:
        return "No photo changed its answer."
    cells = format_html_join(
        "",
        '<figure style="display:inline-block;width:132px;margin:4px;vertical-align:top;font-size:11px">'
        '<a href="{0}"><img src="{0}" alt="{1}" loading="lazy" style="width:128px;height:128px;object-fit:cover"></a>'
        '<figcaption><b style="color:{2}">{3}</b><br>true: {4}<br>live: {5}<br>candidate: {6}</figcaption></figure>',
        ((reverse("admin:training_modelcomparison_photo", args=[comparison.pk, i]), row["path"].rsplit("/", 1)[-1],
          {"regression": "#c62828", "fix": "#1a7f37"}.get(row["kind"], "#8a6d00"), row["kind"],
          display_name(row["true_label"]), display_name(row["live"]), display_name(row["candidate"]))
         for i, row in enumerate(changed[:CHANGED_SHOWN])),
    )
    more = f" (first {CHANGED_SHOWN} shown)" if len(changed) > CHANGED_SHOWN else ""
    return format_html("<p>{} photo{} changed answer, worst regressions first{}.</p><div>{}</div>", len(changed), pluralize(len(changed)), more, cells)


def rules_html(comparison):
    if comparison.rules_passed:
        return mark_safe('<b style="color:#1a7f37">passed</b>')  # a constant: nothing to escape
    return format_html('<b style="color:#c62828">failed</b><ul>{}</ul>',
                       format_html_join("", "<li>{}</li>", ((failure,) for failure in comparison.rule_failures)))


def passes_now(comparison):
    """Whether promoting from `comparison` is promoting by the rules: it passed them and is still the candidate's
    current comparison (against the model serving now). Otherwise promoting overrules, so a reason is required."""
    return comparison.rules_passed and is_current_comparison(comparison)


def out_of_date_note(comparison):
    """Why a comparison's verdict no longer counts, in words, or "" when it is current."""
    if is_current_comparison(comparison):
        return ""
    if failed_comparison(comparison):
        error = (comparison.error or "it recorded no results").rstrip(".")
        return f"This comparison failed: {error}. Compare again once that is fixed, or promote anyway with a reason."
    if outdated_metrics(comparison):
        return ("This comparison was made before the metrics counted the site's answer (\"not a pet\" under each model's "
                "threshold), so its verdict no longer counts. Compare again for today's figures.")
    from training.comparison import ComparisonError, live_model

    try:
        live_name = live_model()[1].version
    except (ComparisonError, NoModelAvailable):
        live_name = None
    if live_name and live_name != comparison.live_name:
        return (f"This comparison was made against {comparison.live_name or 'no live model'}; the live model is now "
                f"{live_name}, so its verdict no longer counts.")
    return ("This is not the candidate's current comparison (a newer one exists, or a new one would use other photos), "
            "so its verdict no longer counts.")


class PromoteForm(forms.Form):
    """Promoting a comparison's candidate: a reason is required when that overrules the rules (the comparison failed
    them or is out of date), an optional note otherwise."""

    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=2000,
                             help_text="Why this version should go live although it did not pass the rules against the "
                                       "live model (recorded).")

    def __init__(self, *args, by_the_rules=False, **kwargs):
        super().__init__(*args, **kwargs)
        if by_the_rules:  # nothing to overrule: a note is welcome, not required
            self.fields["reason"].required = False
            self.fields["reason"].label = "Note (optional)"
            self.fields["reason"].help_text = "It passed the promotion rules against the live model; anything to record about it."


@admin.register(ModelComparison)
class ModelComparisonAdmin(admin.ModelAdmin):
    list_display = ("id", "candidate", "live_name", "dataset_version", "accuracy_change", "rules_passed", "decision", "created_at")
    list_filter = ("rules_passed", "decision")
    search_fields = ("candidate__name", "live_name")
    fields = ("candidate", "live_name", "dataset_version", "data_dir", "benchmark_dir", "rules", "decision", "decided_by",
              "decided_at", "reason_or_note", "promote_link", "side_by_side", "changed_photos", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="accuracy change")
    def accuracy_change(self, obj):
        value = ((obj.results or {}).get("difference") or {}).get("accuracy")
        return "-" if value is None else f"{value * 100:+.1f} points"

    @admin.display(description="promotion rules")
    def rules(self, obj):
        return rules_html(obj)

    @admin.display(description="side by side")
    def side_by_side(self, obj):
        return comparison_html(obj)

    @admin.display(description="photos whose answer changed")
    def changed_photos(self, obj):
        return changed_html(obj)

    @admin.display(description="reason or note")
    def reason_or_note(self, obj):
        # The model field's help text says "why it was promoted anyway"; a promotion by the rules may carry a note too.
        return obj.reason or "-"

    @admin.display(description="promote")
    def promote_link(self, obj):
        if obj.candidate.is_active:
            return "The candidate is the live model."
        url = reverse("admin:training_modelcomparison_promote", args=[obj.pk])
        if passes_now(obj):
            return format_html('<a class="button" href="{}">Promote…</a>', url)
        note = out_of_date_note(obj)
        if note:
            return format_html('<p>{}</p><a class="button" href="{}">Compare again or promote anyway…</a>', note, url)
        return format_html('<a class="button" href="{}">Promote anyway…</a>', url)

    def get_urls(self):
        promote = self.admin_site.admin_view(self.promote_view)
        return [
            path("<int:pk>/photo/<int:index>/", self.admin_site.admin_view(self.photo_view), name="training_modelcomparison_photo"),
            path("<int:pk>/promote/", promote, name="training_modelcomparison_promote"),
            # The page's first address, from when it only promoted anyway: old links and bookmarks keep working.
            path("<int:pk>/promote-anyway/", promote, name="training_modelcomparison_promote_anyway"),
            path("<int:pk>/compare-again/", self.admin_site.admin_view(self.compare_again_view),
                 name="training_modelcomparison_compare_again"),
        ] + super().get_urls()

    def photo_view(self, request, pk, index):
        """A changed photo, to staff who may view comparisons, only from inside the comparison's photo folders."""
        if not self.has_view_permission(request):
            raise Http404
        comparison = get_object_or_404(ModelComparison, pk=pk)
        photo = comparison_photo(comparison, index)
        content_type = mimetypes.guess_type(str(photo))[0] if photo is not None else None
        if photo is None or not (content_type or "").startswith("image/"):
            raise Http404
        response = FileResponse(open(photo, "rb"), content_type=content_type)
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, max-age=3600"
        return response

    def promote_view(self, request, pk):
        """Promote the comparison's candidate. By the rules ("Promote…", an optional note) only when the comparison
        passed them and is the candidate's current one (against the model serving now); otherwise it is promoting
        anyway: a reason is required and recorded with who, and an out-of-date comparison also offers "Compare again"."""
        from training.models import ModelVersion

        comparison = get_object_or_404(ModelComparison.objects.select_related("candidate"), pk=pk)
        if not request.user.has_perm("training.change_modelversion"):
            raise Http404
        current = is_current_comparison(comparison)
        by_the_rules = comparison.rules_passed and current
        form = PromoteForm(request.POST or None, by_the_rules=by_the_rules)
        if request.method == "POST" and form.is_valid():
            try:
                result = promote(comparison.candidate, user=request.user, force=True, reason=form.cleaned_data["reason"],
                                 comparison=comparison, current=current)
            except NoModelAvailable as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, result.message, messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:training_modelcomparison_change", args=[comparison.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Promote {comparison.candidate.name}" + ("" if by_the_rules else " anyway"),
            "opts": ModelVersion._meta, "comparison": comparison, "form": form, "rules": rules_html(comparison),
            "by_the_rules": by_the_rules, "out_of_date": "" if current else out_of_date_note(comparison),
            "compare_again": reverse("admin:training_modelcomparison_compare_again", args=[comparison.pk]),
            "back": reverse("admin:training_modelcomparison_change", args=[comparison.pk]),
        }
        return TemplateResponse(request, "admin/training/promote.html", context)

    def compare_again_view(self, request, pk):
        """Compare the candidate with the model serving now, in the background (two models over the test split is a
        job, never a request), and promote it if it passes the rules: what the model versions' promote action does."""
        comparison = get_object_or_404(ModelComparison.objects.select_related("candidate"), pk=pk)
        if not request.user.has_perm("training.change_modelversion"):
            raise Http404
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:training_modelcomparison_promote", args=[comparison.pk]))
        candidate = comparison.candidate
        if candidate.is_active:
            self.message_user(request, f"{candidate.name} is already the live model.")
            return HttpResponseRedirect(reverse("admin:training_modelcomparison_change", args=[comparison.pk]))
        if not dispatch_background_promotion(candidate, request.user):
            self.message_user(request, f"{candidate.name} is already being compared with the live model (a job is queued or "
                              "running); its comparison appears on its model version page when it is done.", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:training_modelversion_change", args=[candidate.pk]))
        self.message_user(request, f"Comparing {candidate.name} with the live model in the background; it is promoted if it "
                          "passes the rules. The new comparison appears on its model version page in a few minutes.", messages.INFO)
        return HttpResponseRedirect(reverse("admin:training_modelversion_change", args=[candidate.pk]))
