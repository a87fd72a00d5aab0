"""Admin for model versions (metrics, report pictures, activate / roll back) and training runs (start, live progress, cancel).

Thin: every action calls a service in training.registry or training.runs; live progress polls from
ingestion's shared admin_progress.js.
"""
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from ingestion.admin_photos import photo_preview
from ingestion.admin_progress import PROGRESS_JS, live_cell
from ingestion.selectors import built_dataset_versions
from petsite.admin_jobs import ReadOnlyPageMixin, resume_one_at_a_time
from training.admin_comparison import comparison_html, passes_now, rules_html
from training.comparison import ComparisonError
from training.models import ModelVersion, TrainingRun
from training.promotion import fresh_comparison, is_candidate, latest_comparison, promote, rules_text
from training.registry import NoModelAvailable, activate, active_spec, roll_back
from training.runs import (
    RunRefused, check_run_request, mark_interrupted_runs, request_cancel, resume_run, retrain_refusal, start_retrain, start_run,
)


def _pct(value):
    return "-" if value is None else f"{value:.2%}"


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyPageMixin, admin.ModelAdmin):
    list_display = ("name", "architecture", "accuracy_display", "ece_display", "training_seconds_display", "state", "dataset_version",
                    "is_active", "created_at")
    list_filter = ("architecture", "is_active")
    search_fields = ("name",)
    actions = ["promote_selected", "activate_selected", "roll_back"]
    readonly_fields = (
        "name", "architecture", "classes", "input_size", "file_path", "unknown_threshold_display", "dataset_digest", "class_counts",
        "metrics_table", "curves_preview", "confusion_preview", "tradeoff_preview", "params", "metrics", "training_seconds_display",
        "is_active",
        "created_at", "activated_at", "dataset_version", "comparison",
    )
    # The raw card (thousands of numbers) folds away; the tables and pictures above it say what it holds.
    fieldsets = (
        (None, {"fields": ("name", "architecture", "is_active", "created_at", "activated_at", "dataset_version", "comparison")}),
        ("Test results", {"fields": ("metrics_table", "tradeoff_preview", "confusion_preview", "curves_preview")}),
        ("Model", {"fields": ("classes", "input_size", "file_path", "unknown_threshold_display", "dataset_digest",
                              "training_seconds_display")}),
        ("Raw card: photo counts, parameters and every metric (JSON)", {"classes": ["collapse"],
                                                                        "fields": ("class_counts", "params", "metrics")}),
    )

    @admin.display(description="state")
    def state(self, obj):
        if obj.is_active:
            return "live"
        return "candidate (held back)" if is_candidate(obj) else "-"

    @admin.display(description="comparison with the live model")
    def comparison(self, obj):
        comparison = latest_comparison(obj)
        if comparison is None:
            return "Not compared yet (training runs compare; or `manage.py compare_models`)."
        link = reverse("admin:training_modelcomparison_change", args=[comparison.pk])
        promote_link = ""
        if not obj.is_active:  # "Promote…" only by a passing comparison against the model serving now
            promote_link = format_html(' &middot; <a class="button" href="{}">{}</a>',
                                       reverse("admin:training_modelcomparison_promote", args=[comparison.pk]),
                                       "Promote…" if passes_now(comparison) else "Promote anyway…")
        return format_html('<p><a href="{}">Comparison #{}</a> with {} ({}) &middot; rules: {}{}</p>{}', link, comparison.pk,
                           comparison.live_name or "-", comparison.get_decision_display(), rules_html(comparison),
                           promote_link, comparison_html(comparison))

    @admin.action(description="Promote the selected version if it passes the rules against the live model", permissions=["change"])
    def promote_selected(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to promote.", messages.ERROR)
            return
        version = queryset.get()
        if version.is_active:
            self.message_user(request, f"{version.name} is already the live model.")
            return
        comparison = fresh_comparison(version)
        if comparison is None:  # comparing runs two models over the test split: a job, never this request
            from training.promotion import dispatch_background_promotion

            if not dispatch_background_promotion(version, request.user):
                self.message_user(request, f"{version.name} is already being compared with the live model (a job is queued "
                                  "or running); the result appears on its page when it is done.", messages.WARNING)
                return
            self.message_user(request, f"Comparing {version.name} with the live model in the background; it is promoted if it passes "
                              "the rules. The result appears in its state here and under \"comparison with the live model\" on its "
                              "page in a few minutes.", messages.INFO)
            return
        try:
            result = promote(version, user=request.user, comparison=comparison)
        except (ComparisonError, NoModelAvailable) as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"From comparison #{comparison.pk}: {result.message}", messages.SUCCESS if result.promoted else messages.WARNING)

    def has_add_permission(self, request):
        return False  # versions come from training runs

    @admin.display(description="accuracy")
    def accuracy_display(self, obj):
        return _pct(obj.accuracy)

    @admin.display(description="ECE")
    def ece_display(self, obj):
        return _pct((obj.metrics or {}).get("ece"))

    @admin.display(description="training time")
    def training_seconds_display(self, obj):
        return "-" if obj.training_seconds is None else f"{obj.training_seconds:.0f} s"

    @admin.display(description='"not a pet" threshold')
    def unknown_threshold_display(self, obj):
        if obj.unknown_threshold is None:
            return "-"
        return f"{obj.unknown_threshold:.3f}: a photo whose pet score is below it is answered \"not a pet\""

    @admin.display(description="test metrics")
    def metrics_table(self, obj):
        metrics = obj.metrics or {}
        per_class = metrics.get("per_class") or {}
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((name, _pct(r.get("precision")), _pct(r.get("recall")), _pct(r.get("f1")), r.get("support")) for name, r in per_class.items()),
        )
        unknown = metrics.get("unknown") or {}
        return format_html(
            "<p>accuracy <b>{}</b> &middot; ECE {} &middot; pets &rarr; unknown {} &middot; held-out other &rarr; unknown {}</p>"
            "<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>{}</table>",
            _pct(metrics.get("accuracy")), _pct(metrics.get("ece")), _pct(unknown.get("pets_unknown_rate")),
            _pct(unknown.get("other_unknown_rate")), rows,
        )

    @admin.display(description="training curves")
    def curves_preview(self, obj):
        preview = photo_preview(obj.curves_image, max_width="720px", max_height=None)
        if not obj.curves_image or obj.architecture != "default":
            return preview
        # The curves' accuracy is the training objective's, not the test metrics' above: say so, or 93% beside 99% puzzles.
        return format_html(
            '{}<p class="help">Per epoch while training, on the training and validation photos. For the default architecture '
            "the accuracy counts every class its head learns: the six pets and each kind of non-pet photo (rabbit, "
            "vehicles, ...), so it sits below the test accuracy above, which scores the site's answer on the test split.</p>",
            preview,
        )

    @admin.display(description="confusion matrix")
    def confusion_preview(self, obj):
        return photo_preview(obj.confusion_image, max_width="480px", max_height=None)

    @admin.display(description='"not a pet" trade-off')
    def tradeoff_preview(self, obj):
        """Pets rejected vs non-pets caught at every threshold (test pets, held-out non-pets), drawn from the metrics."""
        import base64

        from training.metrics import tradeoff_png

        unknown = (obj.metrics or {}).get("unknown") or {}
        curves = {"test pets vs held-out non-pets": unknown["tradeoff"]} if unknown.get("tradeoff") else {}
        curves.update({f"{name}": curve for name, curve in (unknown.get("tradeoff_by_folder") or {}).items()})
        if not curves:
            return "-"
        data = base64.b64encode(tradeoff_png(curves, obj.unknown_threshold)).decode()
        return format_html('<img src="data:image/png;base64,{}" alt="Trade-off curve: pets answered not a pet against non-pet photos '
                           'answered not a pet, for every threshold" style="max-width:560px">', data)

    @admin.action(description="Activate the selected version", permissions=["change"])
    def activate_selected(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        self._activate(request, queryset.get())

    @admin.action(description="Roll back to the previously active version", permissions=["change"])
    def roll_back(self, request, queryset):
        self._switch(request, roll_back)

    def _activate(self, request, version):
        self._switch(request, lambda: activate(version))

    def _switch(self, request, service):
        try:
            version = service()
        except NoModelAvailable as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        if version is None:
            self.message_user(request, "No previously active version to roll back to.", messages.ERROR)
            return
        self.message_user(request, f"{version.name} is now the active model; workers load it on their next task.", messages.SUCCESS)


NO_DATASET_VERSION = "No dataset version is built yet: build one first under Dataset versions (or use Retrain now, which builds one)."


class TrainingRunForm(forms.ModelForm):
    class Meta:
        model = TrainingRun
        fields = ("dataset_version", "architecture", "epochs", "activate_on_success")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields.get("dataset_version")
        if field is not None:
            field.queryset = built_dataset_versions()  # newest first
            field.required = True
            field.empty_label = None
            field.label_from_instance = lambda v: f"{v.name} ({v.photo_count} photos, built {v.finished_at:%Y-%m-%d %H:%M})" if v.finished_at else v.name
            if not field.queryset.exists():
                url = reverse("admin:ingestion_datasetversion_add")
                field.help_text = format_html('{} <a href="{}">Build a dataset version</a>.', NO_DATASET_VERSION, url)

    def clean(self):
        cleaned = super().clean()
        if "dataset_version" in self.fields and not built_dataset_versions().exists():
            raise forms.ValidationError(f"Training run not started: {NO_DATASET_VERSION}")
        if self.instance.pk is None and not self.errors:  # starting a run: say now why it could not start
            try:
                check_run_request(None, cleaned["architecture"], cleaned["dataset_version"])
            except RunRefused as exc:
                raise forms.ValidationError(f"Training run not started: {exc}") from exc
        return cleaned


def progress_text(run):
    if run.status == TrainingRun.Status.INTERRUPTED:
        return run.error or "Interrupted: its worker stopped. Resume it from its page."
    if run.status == TrainingRun.Status.FAILED:
        return f"Failed: {run.error}"
    if run.status == TrainingRun.Status.CANCELLED:
        return run.error or "Cancelled."
    if run.status == TrainingRun.Status.SUCCEEDED:
        name = run.model_version.name if run.model_version else "?"
        return f"Done: model version {name}." + (f" {run.outcome}" if run.outcome else "")
    if run.status == TrainingRun.Status.QUEUED:
        return "Queued: waiting for a worker."
    if run.step == TrainingRun.Step.COMPARE:
        return f"{_step_prefix(run)}comparing with the live model and applying the promotion rules…"
    parts = [_step_prefix(run)] if run.retrain else []
    if run.step == TrainingRun.Step.BUILD:
        return f"{_step_prefix(run)}{run.phase or 'building a dataset version'} ({run.done}/{run.total} photos)"
    if run.total_epochs:
        parts.append(f"epoch {run.epoch} of {run.total_epochs}")
    if run.phase and run.phase != "epoch":
        parts.append(f"{run.phase} ({run.done}/{run.total})")
    metrics = run.current_metrics or {}
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, (int, float)) and k in ("loss", "accuracy", "val_loss", "val_accuracy"))
    if shown:
        parts.append(shown)
    return " · ".join(parts) or "Starting…"


def _live_progress_html(run):
    return format_html('<progress value="{}" max="1" style="width:30em"></progress><div class="text">{}</div>',
                       f"{run.fraction:.3f}", progress_text(run))


def _step_prefix(run):
    if not run.retrain:
        return ""
    number = {TrainingRun.Step.BUILD: 1, TrainingRun.Step.TRAIN: 2}.get(run.step, 3)
    return f"Step {number} of 3 ({('build', 'train', 'compare and promote')[number - 1]}): "


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyPageMixin, admin.ModelAdmin):
    form = TrainingRunForm
    list_display = ("id", "kind", "dataset_version", "architecture", "status", "progress_bar", "model_version", "created_by", "created_at")
    list_filter = ("status", "architecture", "retrain")
    actions = ["cancel_runs", "resume_runs"]

    class Media:
        js = (PROGRESS_JS,)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        # "Resume" (controls) only where there is something to resume; metrics as a small table, not raw JSON.
        controls = ("controls",) if obj.status == TrainingRun.Status.INTERRUPTED else ()
        return ("kind", "dataset_version", "architecture", "data_dir", "epochs", "activate_on_success", "status", "live_progress",
                *controls, "metrics_table", "model_version", "outcome", "comparison", "error", "created_by", "created_at",
                "started_at", "finished_at")

    def has_change_permission(self, request, obj=None):
        # A run is never edited once started: running or finished, its page is read-only (no save buttons); an
        # interrupted one keeps its form for the Resume button (response_change), still without save buttons
        # (ReadOnlyPageMixin: every field is read-only).
        if obj is not None and obj.status != TrainingRun.Status.INTERRUPTED:
            return False
        return super().has_change_permission(request, obj)

    @admin.display(description="current metrics")
    def metrics_table(self, obj):
        metrics = {k: v for k, v in (obj.current_metrics or {}).items() if v is not None}
        if not metrics:
            return "-"
        def shown(value):
            return f"{value:.4f}" if isinstance(value, float) else str(value)
        return format_html('<table style="width:auto">{}</table>', format_html_join(
            "", "<tr><th>{}</th><td>{}</td></tr>", ((name.replace("_", " "), shown(value)) for name, value in metrics.items())))

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("dataset_version", "architecture", "epochs", "activate_on_success")
        # The live progress, under the status, says why a run failed, stopped or was cancelled (and a finished run's
        # outcome), and stays current while it runs: those are not said again in rows of their own.
        said = progress_text(obj)
        return tuple(name for name in self.get_readonly_fields(request, obj)
                     if name not in ("error", "outcome") or (getattr(obj, name) and getattr(obj, name) not in said))

    @admin.display(description="kind")
    def kind(self, obj):
        return "Retrain now (build, train, compare)" if obj.retrain else "training run"

    @admin.display(description="run")
    def controls(self, obj):
        if obj.status != TrainingRun.Status.INTERRUPTED:
            return "-"
        # A submit button of the change form itself (it carries the CSRF token); response_change handles it.
        return mark_safe('<input type="submit" class="default" name="_resume_run" value="Resume" style="float:none"> '
                         '<span class="help">continues from the step that did not finish; finished steps are kept</span>')

    @admin.display(description="comparison")
    def comparison(self, obj):
        comparison = latest_comparison(obj.model_version) if obj.model_version else None
        if comparison is None:
            return "-"
        return format_html('<a href="{}">Comparison #{} with {}</a>', reverse("admin:training_modelcomparison_change",
                           args=[comparison.pk]), comparison.pk, comparison.live_name or "-")

    @admin.display(description="progress")
    def progress_bar(self, obj):
        return format_html('<progress value="{}" max="1" style="width:10em"></progress> {}', f"{obj.fraction:.3f}", progress_text(obj))

    @admin.display(description="live progress")
    def live_progress(self, obj):
        url = reverse("admin:training_trainingrun_progress", args=[obj.pk])
        # admin_progress.js polls `url` while the run is in progress and reloads the page once it has ended.
        return format_html('<div id="training-run-progress">{}</div>',
                           live_cell(obj.pk, obj.in_progress, url, _live_progress_html(obj), reload_on_end=True, tag="div"))

    def get_urls(self):
        return [
            path("<int:pk>/progress/", self.admin_site.admin_view(self.progress_view), name="training_trainingrun_progress"),
            path("retrain/", self.admin_site.admin_view(self.retrain_view), name="training_trainingrun_retrain"),
        ] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        mark_interrupted_runs()  # a run whose worker died shows as interrupted (resumable), not running forever
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        mark_interrupted_runs()
        if request.method == "POST" and "_resume_run" in request.POST:
            # The page offered Resume, but someone else resumed the run (or it ended) since: its form is read-only
            # now (a bare 403 from the admin); say so instead.
            run = TrainingRun.objects.filter(pk=object_id).first()
            if run is not None and run.status != TrainingRun.Status.INTERRUPTED and self.has_view_permission(request, run):
                self.message_user(request, f"{run.kind} #{run.pk} not resumed: it is not interrupted any more "
                                  f"({run.get_status_display().lower()}); someone may have resumed it already.", messages.WARNING)
                return HttpResponseRedirect(request.path)
        return super().change_view(request, object_id, form_url, extra_context)

    def response_change(self, request, obj):
        if "_resume_run" in request.POST:
            self._resume(request, obj)
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    def _resume(self, request, run):
        """Resume one interrupted run through the service; says what happened. True when it was resumed."""
        try:
            run = resume_run(run, user=request.user)
        except RunRefused as exc:
            self.message_user(request, f"{run.kind} #{run.pk} not resumed: {exc}", messages.ERROR)
            return False
        self.message_user(request, f"{run.kind} #{run.pk} resumed: it continues with step “{run.get_step_display()}”.", messages.SUCCESS)
        return True

    @admin.action(description="Resume the selected interrupted runs (from the step that did not finish)", permissions=["change"])
    def resume_runs(self, request, queryset):
        interrupted = list(queryset.filter(status=TrainingRun.Status.INTERRUPTED).order_by("pk"))
        resume_one_at_a_time(self, request, interrupted, self._resume, lambda run: f"{run.kind} #{run.pk}", "run")

    def retrain_view(self, request):
        """Retrain now: GET asks first (what it does, how long, what it may change); POST builds a dataset version from
        the base folders and everything accepted and reviewed, trains, compares and promotes."""
        if not self.has_add_permission(request):
            return HttpResponseRedirect(reverse("admin:training_trainingrun_changelist"))
        if request.method != "POST":
            try:
                live = active_spec().version
            except NoModelAvailable:
                live = None
            return TemplateResponse(request, "admin/training/trainingrun/retrain_confirm.html", {
                **self.admin_site.each_context(request), "title": "Retrain now?", "opts": self.model._meta,
                "base_folders": settings.PETSITE_DATASET_BASE_FOLDERS, "live": live, "rules": rules_text(),
                "refusal": retrain_refusal(),  # said now, not after the button
            })
        try:
            run = start_retrain(user=request.user)
        except RunRefused as exc:
            self.message_user(request, f"Retrain not started: {exc}", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:training_trainingrun_changelist"))
        self.message_user(request, f"Retrain #{run.pk} started: building a dataset version, then training, comparing and promoting.",
                          messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:training_trainingrun_change", args=[run.pk]))

    def progress_view(self, request, pk):
        if not self.has_view_permission(request):
            return JsonResponse({"error": "forbidden"}, status=403)
        mark_interrupted_runs()  # the live page learns its run's worker died (and reloads to offer Resume)
        run = get_object_or_404(TrainingRun, pk=pk)
        return JsonResponse({
            "id": run.pk, "active": run.in_progress, "html": _live_progress_html(run),
            "status": run.status, "in_progress": run.in_progress, "fraction": run.fraction, "text": progress_text(run),
            "epoch": run.epoch, "total_epochs": run.total_epochs, "metrics": run.current_metrics, "error": run.error,
            "model_version": run.model_version.name if run.model_version else None, "step": run.step, "outcome": run.outcome,
        })

    def save_model(self, request, obj, form, change):
        """Start the run through the service (the form already checked it may start); `obj` becomes that run."""
        if change:
            return  # runs are read-only once started
        try:
            run = start_run(None, obj.architecture, obj.epochs, obj.activate_on_success, user=request.user,
                            dataset_version=obj.dataset_version)
        except RunRefused as exc:  # another run started since the form was checked
            self.message_user(request, f"Training run not started: {exc}", messages.ERROR)
            return
        obj.pk = run.pk
        obj.refresh_from_db()

    def response_add(self, request, obj, post_url_continue=None):
        if obj.pk is None:  # refused in save_model, which said why
            return HttpResponseRedirect(reverse("admin:training_trainingrun_changelist"))
        self.message_user(request, f"Training run #{obj.pk} started.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:training_trainingrun_change", args=[obj.pk]))

    def log_addition(self, request, obj, message):
        if obj.pk:
            return super().log_addition(request, obj, message)
        return None

    @admin.action(description="Cancel the selected runs", permissions=["change"])
    def cancel_runs(self, request, queryset):
        count = sum(request_cancel(run) for run in queryset)
        self.message_user(request, f"Cancellation requested for {count} run(s); the active model stays as it is.")
