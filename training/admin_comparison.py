"""Admin for comparisons: candidate and live model side by side (metrics, per-class recall and precision with their
differences, ECE, unknown rates, both confusion matrices, changed photos with thumbnails), and "promote anyway".

Changed photos live outside MEDIA_ROOT (in the dataset version's folder or the benchmark folder): a staff-only view
serves them by (comparison, index), never by a path from the request, and only files inside those folders
(training.comparison.comparison_photo).
"""
import mimetypes

from django import forms
from django.contrib import admin, messages
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from ingestion.labels import display_name
from training.comparison import comparison_photo
from training.models import ModelComparison
from training.promotion import promote
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
    header = format_html_join("", "<th>{}</th>", ((name,) for name in classes))
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
        '<p>{} photos ({}). Differences are in percentage points, candidate minus live.</p>'
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
    return format_html("<p>{} photo(s) changed answer, worst regressions first{}.</p><div>{}</div>", len(changed), more, cells)


def rules_html(comparison):
    if comparison.rules_passed:
        return format_html('<b style="color:#1a7f37">passed</b>')
    return format_html('<b style="color:#c62828">failed</b><ul>{}</ul>',
                       format_html_join("", "<li>{}</li>", ((failure,) for failure in comparison.rule_failures)))


class PromoteAnywayForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=2000,
                             help_text="Why this version should go live although it failed the rules (recorded).")

    def __init__(self, *args, rules_passed=False, **kwargs):
        super().__init__(*args, **kwargs)
        if rules_passed:  # nothing to overrule: a note is welcome, not required
            self.fields["reason"].required = False
            self.fields["reason"].label = "Note (optional)"
            self.fields["reason"].help_text = "It passed the promotion rules; anything to record about it."


@admin.register(ModelComparison)
class ModelComparisonAdmin(admin.ModelAdmin):
    list_display = ("id", "candidate", "live_name", "dataset_version", "accuracy_change", "rules_passed", "decision", "created_at")
    list_filter = ("rules_passed", "decision")
    search_fields = ("candidate__name", "live_name")
    fields = ("candidate", "live_name", "dataset_version", "data_dir", "benchmark_dir", "rules", "decision", "decided_by",
              "decided_at", "reason", "promote_link", "side_by_side", "changed_photos", "created_at")
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

    @admin.display(description="promote")
    def promote_link(self, obj):
        if obj.candidate.is_active:
            return "The candidate is the live model."
        return format_html('<a class="button" href="{}">{}</a>', reverse("admin:training_modelcomparison_promote", args=[obj.pk]),
                           "Promote…" if obj.rules_passed else "Promote anyway…")

    def get_urls(self):
        return [
            path("<int:pk>/photo/<int:index>/", self.admin_site.admin_view(self.photo_view), name="training_modelcomparison_photo"),
            path("<int:pk>/promote-anyway/", self.admin_site.admin_view(self.promote_view), name="training_modelcomparison_promote"),
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
        """Promote anyway: the candidate goes live although it failed the rules; who and why are recorded."""
        from training.models import ModelVersion

        comparison = get_object_or_404(ModelComparison.objects.select_related("candidate"), pk=pk)
        if not request.user.has_perm("training.change_modelversion"):
            raise Http404
        form = PromoteAnywayForm(request.POST or None, rules_passed=comparison.rules_passed)
        if request.method == "POST" and form.is_valid():
            try:
                result = promote(comparison.candidate, user=request.user, force=True, reason=form.cleaned_data["reason"],
                                 comparison=comparison)
            except NoModelAvailable as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, result.message, messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:training_modelcomparison_change", args=[comparison.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Promote {comparison.candidate.name}" + ("" if comparison.rules_passed else " anyway"),
            "opts": ModelVersion._meta, "comparison": comparison, "form": form, "rules": rules_html(comparison),
            "back": reverse("admin:training_modelcomparison_change", args=[comparison.pk]),
        }
        return TemplateResponse(request, "admin/training/promote_anyway.html", context)
