from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from ingestion.labels import CLASSES, display_name

from . import services
from .models import Prediction


class ReviewedFilter(admin.SimpleListFilter):
    title = "reviewed"
    parameter_name = "reviewed"

    def lookups(self, request, model_admin):
        return [("yes", "Reviewed"), ("no", "Not reviewed")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(true_label="")
        if self.value() == "no":
            return queryset.filter(true_label="")
        return queryset


def _relabel_action(label):
    def action(modeladmin, request, queryset):
        count = services.relabel(queryset, label, request.user)
        modeladmin.message_user(request, f"Relabelled {count} prediction(s) as {display_name(label)}.", messages.SUCCESS)

    action.__name__ = f"relabel_as_{label}"
    action.short_description = f"Relabel as {display_name(label)}"
    action.allowed_permissions = ("change",)
    return action


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ("id", "thumbnail_tag", "status", "label", "confidence_pct", "true_label", "reviewed_by", "reviewed_at", "created_at")
    list_display_links = ("id", "thumbnail_tag")
    list_filter = ("status", "label", ReviewedFilter, "true_label", "model_version", "created_at")
    search_fields = ("id", "original_filename", "label", "true_label", "model_version", "content_hash")
    date_hierarchy = "created_at"
    list_per_page = 50
    readonly_fields = (
        "image_tag", "status", "label", "confidence_pct", "probability_bars", "pet_score_pct", "model_version", "inference_time",
        "error", "attempts", "original_filename", "image_format", "width", "height", "content_hash",
        "created_at", "completed_at", "reviewed_by", "reviewed_at",
    )
    fields = ("image_tag", "true_label", *readonly_fields[1:])
    actions = ["mark_as_correct", *[_relabel_action(label) for label in (*CLASSES, "unknown")]]

    def has_add_permission(self, request):
        return False  # predictions come from uploads

    def delete_model(self, request, obj):
        services.delete_predictions(Prediction.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        services.delete_predictions(queryset)

    @admin.display(description="Photo")
    def thumbnail_tag(self, obj):
        if not obj.thumbnail:
            return "-"
        return format_html('<img src="{}" alt="" style="height:56px;width:56px;object-fit:cover;border-radius:4px">', obj.thumbnail.url)

    @admin.display(description="Photo")
    def image_tag(self, obj):
        return format_html('<img src="{}" alt="" style="max-height:320px;max-width:100%">', obj.image.url) if obj.image else "-"

    @admin.display(description="Probabilities")
    def probability_bars(self, obj):
        rows = format_html_join(
            "",
            '<div style="display:grid;grid-template-columns:9rem 16rem 4rem;gap:.5rem;align-items:center;margin:2px 0">'
            '<span>{}</span><span style="background:#eef2f7;height:12px;border-radius:6px;overflow:hidden">'
            '<span style="display:block;height:100%;width:{}%;background:{}"></span></span><span style="text-align:right">{}%</span></div>',
            (
                (name, f"{p * 100:.1f}", "#2563eb" if label == obj.label else "#93c5fd", f"{p * 100:.1f}")
                for label, name, p in obj.sorted_probabilities()
            ),
        )
        return rows or "-"

    @admin.display(description="Pet score")
    def pet_score_pct(self, obj):
        return f"{obj.pet_score * 100:.1f}% (below the model's threshold means 'Not a pet')" if obj.pet_score is not None else "-"

    @admin.display(description="Inference time")
    def inference_time(self, obj):
        return f"{obj.inference_ms:.1f} ms" if obj.inference_ms is not None else "-"

    @admin.display(description="Confidence", ordering="confidence")
    def confidence_pct(self, obj):
        return f"{obj.confidence * 100:.1f}%" if obj.confidence is not None else "-"

    @admin.action(description="Mark as correct (confirm predicted label)", permissions=["change"])
    def mark_as_correct(self, request, queryset):
        count = services.mark_correct(queryset, request.user)
        self.message_user(request, f"Confirmed {count} prediction(s).", messages.SUCCESS)

    def save_model(self, request, obj, form, change):
        # A label edited on the change form is a review too: record who and when through the service.
        if "true_label" in form.changed_data:
            if obj.true_label:
                services.relabel(Prediction.objects.filter(pk=obj.pk), obj.true_label, request.user)
            else:
                Prediction.objects.filter(pk=obj.pk).update(true_label="", reviewed_by=None, reviewed_at=None)
            return
        super().save_model(request, obj, form, change)
