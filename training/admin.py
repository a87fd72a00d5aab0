"""Admin for model versions (metrics, report pictures, activate / roll back) and training runs (start, live progress, cancel).

Thin: every action calls a service in training.registry or training.runs; live progress polls from
static/training/trainingrun_progress.js.
"""
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from ingestion.admin_photos import photo_preview
from training.models import ModelVersion, TrainingRun
from training.registry import NoModelAvailable, activate, roll_back
from training.runs import RunRefused, check_run_request, request_cancel, start_run


def _pct(value):
    return "-" if value is None else f"{value:.2%}"


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "architecture", "accuracy_display", "ece_display", "training_seconds_display", "is_active", "created_at")
    list_filter = ("architecture", "is_active")
    search_fields = ("name",)
    actions = ["activate_selected", "roll_back"]
    readonly_fields = (
        "name", "architecture", "classes", "input_size", "file_path", "unknown_threshold", "dataset_digest", "class_counts",
        "metrics_table", "curves_preview", "confusion_preview", "params", "metrics", "training_seconds", "is_active",
        "created_at", "activated_at",
    )
    exclude = ("curves_image", "confusion_image")

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
        return photo_preview(obj.curves_image, max_width="720px", max_height=None)

    @admin.display(description="confusion matrix")
    def confusion_preview(self, obj):
        return photo_preview(obj.confusion_image, max_width="480px", max_height=None)

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


class TrainingRunForm(forms.ModelForm):
    class Meta:
        model = TrainingRun
        fields = ("architecture", "data_dir", "epochs", "activate_on_success")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "data_dir" in self.fields:
            self.fields["data_dir"].initial = str(settings.PETSITE_TRAINING_DATA_DIR)

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None and not self.errors:  # starting a run: say now why it could not start
            try:
                check_run_request(cleaned["data_dir"], cleaned["architecture"])
            except RunRefused as exc:
                raise forms.ValidationError(f"Training run not started: {exc}") from exc
        return cleaned


def progress_text(run):
    if run.status == TrainingRun.Status.FAILED:
        return f"Failed: {run.error}"
    if run.status == TrainingRun.Status.CANCELLED:
        return run.error or "Cancelled."
    if run.status == TrainingRun.Status.SUCCEEDED:
        name = run.model_version.name if run.model_version else "?"
        return f"Done: model version {name}."
    if run.status == TrainingRun.Status.QUEUED:
        return "Queued: waiting for a worker."
    parts = []
    if run.total_epochs:
        parts.append(f"epoch {run.epoch} of {run.total_epochs}")
    if run.phase and run.phase != "epoch":
        parts.append(f"{run.phase} ({run.done}/{run.total})")
    metrics = run.current_metrics or {}
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, (int, float)) and k in ("loss", "accuracy", "val_loss", "val_accuracy"))
    if shown:
        parts.append(shown)
    return " · ".join(parts) or "Starting…"


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    form = TrainingRunForm
    list_display = ("id", "architecture", "status", "progress_bar", "model_version", "created_by", "created_at")
    list_filter = ("status", "architecture")
    actions = ["cancel_runs"]

    class Media:
        js = ("training/trainingrun_progress.js",)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("architecture", "data_dir", "epochs", "activate_on_success", "status", "live_progress", "current_metrics",
                "model_version", "error", "created_by", "created_at", "started_at", "finished_at")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("architecture", "data_dir", "epochs", "activate_on_success")
        return self.get_readonly_fields(request, obj)

    @admin.display(description="progress")
    def progress_bar(self, obj):
        return format_html('<progress value="{}" max="1" style="width:10em"></progress> {}', f"{obj.fraction:.3f}", progress_text(obj))

    @admin.display(description="live progress")
    def live_progress(self, obj):
        url = reverse("admin:training_trainingrun_progress", args=[obj.pk])
        # trainingrun_progress.js polls `data-url` while `data-active` is 1.
        return format_html(
            '<div id="training-run-progress" data-url="{}" data-active="{}"><progress value="{}" max="1" style="width:30em">'
            '</progress><div class="text">{}</div></div>',
            url, "1" if obj.in_progress else "0", f"{obj.fraction:.3f}", progress_text(obj),
        )

    def get_urls(self):
        return [
            path("<int:pk>/progress/", self.admin_site.admin_view(self.progress_view), name="training_trainingrun_progress"),
        ] + super().get_urls()

    def progress_view(self, request, pk):
        if not self.has_view_permission(request):
            return JsonResponse({"error": "forbidden"}, status=403)
        run = get_object_or_404(TrainingRun, pk=pk)
        return JsonResponse({
            "status": run.status, "in_progress": run.in_progress, "fraction": run.fraction, "text": progress_text(run),
            "epoch": run.epoch, "total_epochs": run.total_epochs, "metrics": run.current_metrics, "error": run.error,
            "model_version": run.model_version.name if run.model_version else None,
        })

    def save_model(self, request, obj, form, change):
        """Start the run through the service (the form already checked it may start); `obj` becomes that run."""
        if change:
            return  # runs are read-only once started
        try:
            run = start_run(obj.data_dir, obj.architecture, obj.epochs, obj.activate_on_success, user=request.user)
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
