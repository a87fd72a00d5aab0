from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html

from . import selectors, services
from .admin_photos import PhotoColumnsMixin
from .models import ScrapedPhoto, ScrapeJob

ACTIVE = (ScrapeJob.Status.QUEUED, ScrapeJob.Status.RUNNING)
# What staff give to define a job: create_scrape_job's arguments.
JOB_DEFINITION_FIELDS = ("source", "query", "label", "target_count", "base_url")
STATUS_COLORS = {"queued": "#777", "running": "#205493", "done": "#2e7d32", "failed": "#ba2121"}


def status_html(job):
    return format_html(
        '<strong style="color:{}">{}</strong>', STATUS_COLORS.get(job.status, "#333"), job.get_status_display()
    )


def progress_html(job):
    """The progress cell; the JSON endpoint returns the same HTML, so the live update looks identical."""
    note = job.error or (job.message if job.is_finished else "")
    return format_html(
        '<progress max="{}" value="{}" style="width:10em;vertical-align:middle"></progress> '
        "<b>{}/{}</b> <small>found {} · skipped {} · failed {} · pages {}</small>{}",
        job.target_count, min(job.downloaded_count, job.target_count), job.downloaded_count, job.target_count,
        job.found_count, job.skipped_count, job.failed_count, job.pages_count,
        format_html('<br><small style="color:{}">{}</small>', "#ba2121" if job.error else "#555", note) if note else "",
    )


def _live(job, kind, html):
    # data-* attributes let scrapejob_progress.js find and refresh the cell while the job is active.
    return format_html(
        '<span data-scrape-job="{}" data-kind="{}" data-active="{}" data-url="{}">{}</span>',
        job.pk, kind, "1" if job.status in ACTIVE else "0", reverse("admin:ingestion_scrapejob_progress"), html,
    )


class ScrapeJobAddForm(forms.ModelForm):
    """The add form (its model and fields come from the admin), checked by the rules create_scrape_job applies,
    so a refused job is a form error, not a 500."""

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            try:
                services.validate_scrape_job(cleaned["source"], cleaned["query"], cleaned["label"], cleaned["target_count"])
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return cleaned


@admin.register(ScrapeJob)
class ScrapeJobAdmin(admin.ModelAdmin):
    list_display = ("id", "source", "query", "label", "status_tag", "progress_tag", "created_by", "created_at", "finished_at")
    list_display_links = ("id", "query")
    list_filter = ("status", "source", "label", "created_at")
    search_fields = ("query", "message", "error")
    date_hierarchy = "created_at"
    actions = ["start_jobs", "cancel_jobs"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    add_fields = JOB_DEFINITION_FIELDS
    readonly_fields = (
        "status_tag", "progress_tag", "controls", "photos_link", "message", "error", "runs",
        "created_by", "created_at", "started_at", "heartbeat_at", "finished_at",
    )

    class Media:
        js = ("ingestion/scrapejob_progress.js",)

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else (*self.add_fields, *self.readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        # A job is defined once; after that only its progress changes.
        return () if obj is None else (*self.add_fields, *self.readonly_fields)

    @admin.display(description="Status", ordering="status")
    def status_tag(self, obj):
        return _live(obj, "status", status_html(obj))

    @admin.display(description="Progress (downloaded / target)")
    def progress_tag(self, obj):
        return _live(obj, "progress", progress_html(obj))

    @admin.display(description="Photos")
    def photos_link(self, obj):
        url = reverse("admin:ingestion_scrapedphoto_changelist") + f"?job__id__exact={obj.pk}"
        return format_html('<a href="{}">{} stored photo(s)</a>', url, obj.photos.count())

    @admin.display(description="Run")
    def controls(self, obj):
        if not selectors.scrape_job_is_startable(obj):
            return "-"
        label = "Start job" if obj.status == ScrapeJob.Status.QUEUED and not obj.runs else "Resume job"
        # A submit button of the change form itself (it carries the CSRF token); response_change handles it.
        return format_html('<input type="submit" class="default" name="_start_job" value="{}" style="float:none">', label)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ScrapeJobAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            return  # every field of a defined job is read-only
        job = services.create_scrape_job(**{name: form.cleaned_data[name] for name in self.add_fields}, user=request.user)
        # The admin logs and redirects with `obj`: make it the row the service created.
        obj.pk = job.pk
        obj.refresh_from_db()

    def response_add(self, request, obj, post_url_continue=None):
        started = services.start_scrape_jobs(ScrapeJob.objects.filter(pk=obj.pk))
        if started:
            self.message_user(request, f"Started scrape job #{obj.pk}; its progress updates live below.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:ingestion_scrapejob_changelist"))

    def response_change(self, request, obj):
        if "_start_job" in request.POST:
            self._start(request, ScrapeJob.objects.filter(pk=obj.pk))
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    @admin.action(description="Cancel selected queued or running jobs (photos stored so far are kept)", permissions=["change"])
    def cancel_jobs(self, request, queryset):
        count = services.cancel_scrape_jobs(queryset)
        self.message_user(request, f"Asked {count} job(s) to stop; they keep what they stored and can be resumed.", messages.SUCCESS)

    @admin.action(description="Start or resume selected jobs (queued, failed or abandoned)", permissions=["change"])
    def start_jobs(self, request, queryset):
        self._start(request, queryset)

    def _start(self, request, queryset):
        requested = queryset.count()
        started = services.start_scrape_jobs(queryset)
        if started:
            self.message_user(request, f"Started {len(started)} job(s): {', '.join(f'#{pk}' for pk in started)}.", messages.SUCCESS)
        if requested > len(started):
            self.message_user(
                request, f"{requested - len(started)} job(s) were already running or done and were left alone.", messages.WARNING
            )

    def get_urls(self):
        progress = path("progress/", self.admin_site.admin_view(self.progress_view), name="ingestion_scrapejob_progress")
        return [progress, *super().get_urls()]

    def progress_view(self, request):
        """Staff-only JSON: the current progress of the jobs in ?ids=1,2,3 (polled by scrapejob_progress.js)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        ids = [int(value) for value in request.GET.get("ids", "").split(",") if value.strip().isdigit()][:200]
        jobs = selectors.scrape_jobs_by_ids(ids)
        return JsonResponse({
            "jobs": [
                {**job.progress(), "active": job.status in ACTIVE, "status_html": status_html(job), "progress_html": progress_html(job)}
                for job in jobs
            ]
        })


@admin.register(ScrapedPhoto)
class ScrapedPhotoAdmin(PhotoColumnsMixin, admin.ModelAdmin):
    list_display = ("id", "thumbnail_tag", "label", "job", "source_link", "width", "height", "created_at")
    list_display_links = ("id", "thumbnail_tag")
    list_filter = ("label", "job__source", "created_at")
    search_fields = ("url", "query", "sha256", "phash")
    list_select_related = ("job",)
    readonly_fields = ("image_tag", "label", "job", "url", "query", "sha256", "phash", "file", "width", "height", "size_bytes", "created_at")
    fields = readonly_fields

    def has_add_permission(self, request):
        return False  # photos come from scrape jobs

    @admin.display(description="Source URL", ordering="url")
    def source_link(self, obj):
        return format_html('<a href="{}" rel="noreferrer noopener" target="_blank">{}</a>', obj.url, obj.url[-60:])

    def delete_model(self, request, obj):
        services.delete_scraped_photos(ScrapedPhoto.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        services.delete_scraped_photos(queryset)
