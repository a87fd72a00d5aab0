from django.contrib import admin, messages
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.utils.html import format_html, format_html_join

from ingestion.admin_photos import PhotoColumnsMixin, photo_preview
from ingestion.labels import CLASSES, display_name

from . import selectors, services
from .models import Prediction
from .templatetags.petsite import percent


class ReviewedFilter(admin.SimpleListFilter):
    title = "reviewed"
    parameter_name = "reviewed"

    def lookups(self, request, model_admin):
        return selectors.REVIEW_STATES

    def queryset(self, request, queryset):
        return selectors.filter_predictions(queryset, reviewed=self.value() or "")


def _relabel_action(label):
    def action(modeladmin, request, queryset):
        count = services.relabel(queryset, label, request.user)
        modeladmin.message_user(request, f"Relabelled {count} prediction{pluralize(count)} as {display_name(label)}.", messages.SUCCESS)

    action.__name__ = f"relabel_as_{label}"
    action.short_description = f"Relabel as {display_name(label)}"
    action.allowed_permissions = ("change",)
    return action


def _short_time(value):
    """"2026-12-01 15:04" (as the review queue writes it), in the current time zone; the date and the time may go on
    two lines in a narrow column."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    return format_html('<time datetime="{}"><span class="nowrap">{}</span> <span class="nowrap">{}</span></time>',
                       local.isoformat(), format_date(local, "Y-m-d"), format_date(local, "H:i"))


@admin.register(Prediction)
class PredictionAdmin(PhotoColumnsMixin, admin.ModelAdmin):
    thumbnail_field = "thumbnail"
    photo_field = "image"

    # Narrow enough for a 1280 px window with the admin's navigation and filter sidebars open (the change list's CSS,
    # in templates/admin/classifier/prediction/change_list.html, lets the text columns wrap): the status is the
    # answer's column while there is no answer, the review (label, who, when) is one column, dates are short, and a
    # long original file name is cut with an ellipsis (whole in its tooltip).
    list_display = ("id", "thumbnail_tag", "answer", "confidence_pct", "review", "uploaded")
    list_display_links = ("id", "thumbnail_tag")
    list_select_related = ("reviewed_by",)
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

    @admin.display(description="Photo")
    def image_tag(self, obj):
        # The picture a browser can show (a HEIC original is not one), and the original file as sent.
        if not obj.image:
            return "-"
        obj.original_visible = True  # staff's page
        return format_html('{}<p><a href="{}">Original file ({})</a></p>', photo_preview(obj.page_image), obj.image.url,
                           obj.image_format or "unknown format")

    def delete_model(self, request, obj):
        services.delete_predictions(Prediction.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        services.delete_predictions(queryset)

    @admin.display(description="Probabilities")
    def probability_bars(self, obj):
        rows = format_html_join(
            "",
            '<div style="display:grid;grid-template-columns:9rem 16rem 4rem;gap:.5rem;align-items:center;margin:2px 0">'
            '<span>{}</span><span style="background:#eef2f7;height:12px;border-radius:6px;overflow:hidden">'
            '<span style="display:block;height:100%;width:{}%;background:{}"></span></span><span style="text-align:right">{}</span></div>',
            (
                (name, f"{p * 100:.1f}", "#2563eb" if label == obj.label else "#93c5fd", percent(p))
                for label, name, p in obj.sorted_probabilities()
            ),
        )
        return rows or "-"

    @admin.display(description="Pet score")
    def pet_score_pct(self, obj):
        if obj.pet_score is None:
            return "-"
        threshold = selectors.unknown_threshold_of(obj.model_version)
        if threshold is None:
            return percent(obj.pet_score)
        return f"{percent(obj.pet_score)} (pet score {obj.pet_score:.3f}; the model's threshold {threshold:.3f}: below it the answer is 'Not a pet')"

    @admin.display(description="Inference time")
    def inference_time(self, obj):
        return f"{obj.inference_ms:.1f} ms" if obj.inference_ms is not None else "-"

    @admin.display(description="Answer", ordering="label")
    def answer(self, obj):
        """The model's answer; while there is none, the status instead (a failure says why in its tooltip)."""
        if obj.status == Prediction.Status.DONE and obj.label:
            return obj.label_display
        if obj.status == Prediction.Status.FAILED and obj.error:
            return format_html('<span title="{}">{}</span>', obj.error, obj.get_status_display())
        return obj.get_status_display()

    @admin.display(description="Reviewed", ordering="reviewed_at")
    def review(self, obj):
        """The label staff gave, then who gave it and when; "-" until reviewed."""
        if not obj.true_label:
            return "-"
        who = obj.reviewed_by.get_username() if obj.reviewed_by else ""  # none: the reviewer's account was deleted
        reviewer = format_html('<span class="clip" title="{}">{}</span> ', who, who) if who else ""
        return format_html('<strong>{}</strong><span class="detail">{}{}</span>', obj.true_label_display, reviewer,
                           _short_time(obj.reviewed_at))

    @admin.display(description="Uploaded", ordering="created_at")
    def uploaded(self, obj):
        """When, then the original file's name (cut to the column; whole in its tooltip)."""
        name = obj.original_filename
        clipped = format_html('<span class="detail clip" title="{}">{}</span>', name, name) if name else ""
        return format_html("{}{}", _short_time(obj.created_at), clipped)

    @admin.display(description="Sure")
    def confidence_pct(self, obj):
        """The figure the public pages show (share among the pets x pet score), then the share itself when it words
        differently."""
        sure, share = selectors.answer_sureness(obj), selectors.answer_share(obj)
        if sure is None:
            return "-"
        if share is None or percent(share) == percent(sure):
            return percent(sure)
        return f"{percent(sure)} ({percent(share)} among the six pets)"

    @admin.action(description="Mark as correct (confirm predicted label)", permissions=["change"])
    def mark_as_correct(self, request, queryset):
        result = services.mark_correct(queryset, request.user)
        self.message_user(request, f"Confirmed {result.confirmed} prediction{pluralize(result.confirmed)}.", messages.SUCCESS)
        if result.kept_reviewed:
            self.message_user(
                request, f"Skipped {result.kept_reviewed} already labelled by a reviewer (their labels were kept).", messages.WARNING
            )
        if result.unfinished:
            self.message_user(request, f"Skipped {result.unfinished} not classified yet or failed.", messages.WARNING)

    def save_model(self, request, obj, form, change):
        # The form edits only the true label, and a label edit is a review: the services record who, when and
        # what it was before. Nothing else is saved, so stale readonly values never overwrite a fresh result.
        if "true_label" not in form.changed_data:
            return
        selected = Prediction.objects.filter(pk=obj.pk)
        if obj.true_label:
            services.relabel(selected, obj.true_label, request.user)
        else:
            services.clear_review(selected, request.user)

    def log_change(self, request, obj, message):
        # The review services already wrote this change to the history, saying what the label was before.
        return None
