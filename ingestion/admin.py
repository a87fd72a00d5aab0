from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpResponseRedirect
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from petsite.admin_jobs import ReadOnlyPageMixin, resume_one_at_a_time

from . import selectors, services
from .admin_photos import PhotoColumnsMixin
from .admin_progress import PROGRESS_JS, ProgressEndpointMixin, live_cell
from .labels import display_name
from .models import DatasetVersion, ScrapedPhoto, ScrapeJob

ACTIVE = (ScrapeJob.Status.QUEUED, ScrapeJob.Status.RUNNING)
# What staff give to define a job: create_scrape_job's arguments.
JOB_DEFINITION_FIELDS = ("source", "query", "label", "target_count", "base_url", "auto_accept_confidence")
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


def after_add_url(request, admin_name, obj):
    """Where starting a job from its add page leads: the button pressed says it (Save and continue editing: the job's
    own page; Save and add another: a new add page; Save: the list, where every job's progress updates live)."""
    if "_continue" in request.POST:
        return reverse(f"admin:{admin_name}_change", args=[obj.pk])
    if "_addanother" in request.POST:
        return reverse(f"admin:{admin_name}_add")
    return reverse(f"admin:{admin_name}_changelist")


def _live(job, kind, html):
    # The job's status or progress cell (`kind`), refreshed from the progress endpoint's `<kind>_html` while active.
    return live_cell(job.pk, job.status in ACTIVE, reverse("admin:ingestion_scrapejob_progress"), html,
                     html_key=f"{kind}_html", list_key="jobs")


class ScrapeJobAddForm(forms.ModelForm):
    """The add form (its model and fields come from the admin), checked by the rules create_scrape_job applies,
    so a refused job is a form error, not a 500."""

    def clean_auto_accept_confidence(self):
        # Said once, by the service's rule, beside the field (the model's own range check then stays quiet).
        value = self.cleaned_data.get("auto_accept_confidence")
        try:
            services.validate_auto_accept_confidence(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return value

    def clean_base_url(self):
        # What the fetch guard would refuse for sure is said now, not when the job runs.
        from django.conf import settings

        from .scraping.fetch import obviously_blocked

        value = self.cleaned_data.get("base_url")
        refusal = obviously_blocked(value, settings.PETSITE_SCRAPE_ALLOWED_HOSTS) if value else ""
        if refusal:
            raise forms.ValidationError(refusal)
        return value

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            try:
                services.validate_scrape_job(cleaned["source"], cleaned["query"], cleaned["label"], cleaned["target_count"],
                                             cleaned.get("auto_accept_confidence"))
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return cleaned


@admin.register(ScrapeJob)
class ScrapeJobAdmin(ReadOnlyPageMixin, ProgressEndpointMixin, admin.ModelAdmin):
    progress_max_ids = 200
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
        js = (PROGRESS_JS,)

    def get_fields(self, request, obj=None):
        if obj is None:
            return self.add_fields
        # The progress cell (progress_html), under the status and above the Resume button and kept current while the
        # job runs, says the job's error, or its closing message once finished: neither is said again in a row of its own.
        message_said = not obj.message or (obj.is_finished and not obj.error)
        said = {"error", "message"} if message_said else {"error"}
        return (*self.add_fields, *(name for name in self.readonly_fields if name not in said))

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
        count = obj.photos.count()
        return format_html('<a href="{}">{} stored photo{}</a>', url, count, pluralize(count))

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
        return HttpResponseRedirect(after_add_url(request, "ingestion_scrapejob", obj))

    def response_change(self, request, obj):
        if "_start_job" in request.POST:
            self.start_jobs(request, ScrapeJob.objects.filter(pk=obj.pk))
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    @admin.action(description="Cancel selected queued or running jobs (photos stored so far are kept)", permissions=["change"])
    def cancel_jobs(self, request, queryset):
        count = services.cancel_scrape_jobs(queryset)
        self.message_user(request, f"Asked {count} job{pluralize(count)} to stop; they keep what they stored and can be resumed.", messages.SUCCESS)

    @admin.action(description="Start or resume selected jobs (queued, failed or abandoned)", permissions=["change"])
    def start_jobs(self, request, queryset):
        requested = queryset.count()
        started = services.start_scrape_jobs(queryset)
        if started:
            self.message_user(request, f"Started {len(started)} job{pluralize(len(started))}: {', '.join(f'#{pk}' for pk in started)}.", messages.SUCCESS)
        if requested > len(started):
            self.message_user(
                request, f"{requested - len(started)} job{pluralize(requested - len(started))} {pluralize(requested - len(started), 'was,were')} already running or done and left alone.", messages.WARNING
            )

    def progress(self, ids):
        """The current progress of the jobs in ?ids=1,2,3 (polled by admin_progress.js)."""
        jobs = selectors.scrape_jobs_by_ids(ids)
        return {
            "jobs": [
                {**job.progress(), "active": job.status in ACTIVE, "status_html": status_html(job), "progress_html": progress_html(job)}
                for job in jobs
            ]
        }


@admin.register(ScrapedPhoto)
class ScrapedPhotoAdmin(ReadOnlyPageMixin, PhotoColumnsMixin, admin.ModelAdmin):
    list_display = ("id", "thumbnail_tag", "label", "review_state", "predicted_label", "predicted_confidence", "job",
                    "source_link", "width", "height", "created_at")
    list_display_links = ("id", "thumbnail_tag")
    list_filter = ("review_state", "label", "predicted_label", "auto_accepted", "job__source", "created_at")
    search_fields = ("url", "query", "sha256", "phash")
    list_select_related = ("job",)
    readonly_fields = ("image_tag", "label", "review_state", "curated_label", "auto_accepted", "reviewed_by", "reviewed_at",
                       "predicted_label", "predicted_confidence", "pet_score", "scored_with", "job", "url", "query",
                       "sha256", "phash", "file", "width", "height", "size_bytes", "created_at")
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


# Dataset versions ----------------------------------------------------------------------------------------------------

VERSION_STATUS_COLORS = {"queued": "#777", "running": "#205493", "built": "#2e7d32", "failed": "#ba2121", "cancelled": "#777",
                         "interrupted": "#b35900"}


def version_progress_html(version):
    """The progress cell of a build; the JSON endpoint returns the same HTML for the live update."""
    status = format_html('<strong style="color:{}">{}</strong>', VERSION_STATUS_COLORS.get(version.status, "#333"),
                         version.get_status_display())
    if version.is_active:
        bar = format_html(' <progress max="100" value="{}" style="width:10em;vertical-align:middle"></progress> {}%',
                          version.progress_percent, version.progress_percent)
    else:
        bar = ""
    note = version.error or version.message
    return format_html('{}{}{}', status, bar, format_html('<br><small style="color:{}">{}</small>',
                       "#ba2121" if version.error else "#555", note) if note else "")


class DatasetVersionAddForm(forms.ModelForm):
    """What staff choose for a new build; checked by the rules the service applies, so a refusal is a form error."""

    folders_text = forms.CharField(
        label="Base photo folders", widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        # help_text is shown as HTML: "<class>/" escaped, or the browser takes it for a tag and drops it.
        help_text="One folder per line, each holding &lt;class&gt;/ subfolders. Accepted scraped photos and reviewed "
        "predictions are added by themselves.",
    )

    class Meta:
        model = DatasetVersion
        fields = ("name", "frame")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from django.conf import settings

        self.fields["folders_text"].initial = "\n".join(settings.PETSITE_DATASET_BASE_FOLDERS)
        if not self.is_bound and not self.initial.get("name"):
            from django.utils import timezone

            self.initial["name"] = timezone.now().strftime("pets-%Y%m%d-%H%M")

    def clean(self):
        cleaned = super().clean()
        folders = [line.strip() for line in cleaned.get("folders_text", "").splitlines() if line.strip()]
        cleaned["folders"] = folders
        if not self.errors:
            try:
                services.validate_dataset_version(cleaned["name"], folders)
                # Said here, before anything is queued (the build checks again: a folder may go away meanwhile).
                missing = [folder for folder in folders if not Path(folder).is_dir()]
                if missing:
                    raise services.BuildRefused(
                        f"The source folder {missing[0]} does not exist (was it deleted or moved?)."
                        if len(missing) == 1 else f"These source folders do not exist: {', '.join(missing)}."
                    )
                active = selectors.active_dataset_build()
                if active is not None:
                    raise services.BuildRefused(
                        f"Dataset version {active.name} is being built; wait for it to finish or cancel it first."
                    )
            except services.BuildRefused as exc:
                raise forms.ValidationError(str(exc)) from exc
        return cleaned


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ReadOnlyPageMixin, ProgressEndpointMixin, admin.ModelAdmin):
    list_display = ("name", "progress_tag", "photo_count", "train_count", "test_count", "change_summary", "frame_tag",
                    "created_by", "finished_at")
    list_filter = ("status",)
    search_fields = ("name", "digest")
    actions = ["cancel_builds", "resume_builds", "delete_versions"]
    readonly_fields = (
        "name", "progress_tag", "controls", "counts_table", "change_table", "frame_tag", "folder_lines", "extra_source_names",
        "inputs_by_source", "report", "test_ratio", "seed", "digest", "previous", "created_by", "created_at",
        "started_at", "finished_at", "build_time",
    )

    class Media:
        js = (PROGRESS_JS,)

    def get_fields(self, request, obj=None):
        return ("name", "folders_text", "frame") if obj is None else self.readonly_fields

    @admin.display(description="Build time")
    def build_time(self, obj):
        return f"{obj.build_seconds:.1f} s" if obj.build_seconds is not None else None

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields  # immutable: every field of a version is read-only

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = DatasetVersionAddForm
            kwargs["fields"] = ("name", "frame")
        return super().get_form(request, obj, change=change, **kwargs)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deleting goes through the service (files, in-use check)
        return actions

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_active:
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description="Status and progress", ordering="status")
    def progress_tag(self, obj):
        return live_cell(obj.pk, obj.is_active, reverse("admin:ingestion_datasetversion_progress"), version_progress_html(obj),
                         list_key="versions", reload_on_end=True)

    @admin.display(description="Train")
    def train_count(self, obj):
        return obj.split_total("train") if obj.is_built else "-"

    @admin.display(description="Test")
    def test_count(self, obj):
        return obj.split_total("test") if obj.is_built else "-"

    @admin.display(description="Folders")
    def folder_lines(self, obj):
        return format_html_join(mark_safe("<br>"), "<code>{}</code>", ((folder,) for folder in obj.folders)) or None

    @admin.display(description="Also added")
    def extra_source_names(self, obj):
        # "classifier.selectors.reviewed_photos_for_dataset" reads "reviewed photos" (the whole path on hover).
        return format_html_join(", ", '<span title="{}">{}</span>', (
            (path, path.rsplit(".", 1)[-1].removesuffix("_for_dataset").replace("_", " ")) for path in obj.extra_sources
        )) or None

    @admin.display(description="Photos stored as")
    def frame_tag(self, obj):
        return f"{obj.frame}×{obj.frame} fit and pad" if obj.frame else "whole, long side ≤ 512 px"

    @admin.display(description="Since the previous version")
    def change_summary(self, obj):
        if not obj.is_built:
            return "-"
        if obj.previous_id is None:
            return "first version"
        added = sum(change["added"] for splits in obj.diff.values() for change in splits.values())
        removed = sum(change["removed"] for splits in obj.diff.values() for change in splits.values())
        return f"+{added} / −{removed} vs {obj.previous.name}"

    @admin.display(description="Photos per class")
    def counts_table(self, obj):
        if not obj.counts:
            return "-"
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", (
            (display_name(label), counts.get("train", 0), counts.get("test", 0)) for label, counts in obj.counts.items()
        ))
        return format_html("<table><tr><th>class</th><th>train</th><th>test</th></tr>{}</table>", rows)

    @admin.display(description="Changes since the previous version (added / removed)")
    def change_table(self, obj):
        if not obj.diff:
            return "-" if obj.previous_id is None else "no change"
        rows = format_html_join("", "<tr><td>{}</td><td>+{} / −{}</td><td>+{} / −{}</td></tr>", (
            (display_name(label), d["train"]["added"], d["train"]["removed"], d["test"]["added"], d["test"]["removed"])
            for label, d in obj.diff.items()
        ))
        title = f"against {obj.previous.name}" if obj.previous_id else "first version: everything is new"
        return format_html("<p>{}</p><table><tr><th>class</th><th>train</th><th>test</th></tr>{}</table>", title, rows)

    @admin.display(description="Build")
    def controls(self, obj):
        if obj.status == DatasetVersion.Status.INTERRUPTED:
            return mark_safe('<input type="submit" class="default" name="_resume_build" value="Resume build" style="float:none"> '
                             '<span class="help">builds it again from the start; what the stopped worker wrote is discarded</span>')
        if not obj.is_active:
            return "-"
        return mark_safe('<input type="submit" name="_cancel_build" value="Cancel build" style="float:none">')

    def changelist_view(self, request, extra_context=None):
        services.mark_interrupted_builds()  # a build whose worker died shows as interrupted (resumable), not building forever
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        services.mark_interrupted_builds()
        return super().change_view(request, object_id, form_url, extra_context)

    def _resume(self, request, version):
        """Resume one interrupted build through the service; says what happened. True when it was resumed."""
        try:
            services.resume_dataset_build(version)
        except services.BuildRefused as exc:
            self.message_user(request, f"Build of {version.name} not resumed: {exc}", messages.ERROR)
            return False
        self.message_user(request, f"Building dataset version {version.name} again; its progress updates live.", messages.SUCCESS)
        return True

    @admin.action(description="Resume selected interrupted builds", permissions=["change"])
    def resume_builds(self, request, queryset):
        interrupted = list(queryset.filter(status=DatasetVersion.Status.INTERRUPTED).order_by("pk"))
        resume_one_at_a_time(self, request, interrupted, self._resume, lambda version: f"Build of {version.name}", "build")

    def save_model(self, request, obj, form, change):
        if change:
            return  # built versions are immutable; a running build changes only through its job
        version = services.start_dataset_version(
            form.cleaned_data["name"], form.cleaned_data["folders"], request.user, frame=form.cleaned_data.get("frame"),
        )
        obj.pk = version.pk
        obj.refresh_from_db()

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except services.BuildRefused as exc:  # a concurrent start won the one build slot after the form was checked
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:ingestion_datasetversion_changelist"))

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(request, f"Started building dataset version {obj.name}; its progress updates live below.",
                          messages.SUCCESS)
        return HttpResponseRedirect(after_add_url(request, "ingestion_datasetversion", obj))

    def response_change(self, request, obj):
        if "_cancel_build" in request.POST:
            services.cancel_dataset_builds(DatasetVersion.objects.filter(pk=obj.pk))
            self.message_user(request, f"Asked the build of {obj.name} to stop.", messages.SUCCESS)
            return HttpResponseRedirect(request.path)
        if "_resume_build" in request.POST:
            self._resume(request, obj)
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    def delete_model(self, request, obj):
        services.delete_dataset_version(obj)

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, object_id)
        if obj is not None and request.method == "POST":
            if not self.has_delete_permission(request, obj):
                raise PermissionDenied
            try:
                services.delete_dataset_version(obj)
            except services.BuildRefused as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return HttpResponseRedirect(reverse("admin:ingestion_datasetversion_change", args=[obj.pk]))
            self.message_user(request, f"Deleted dataset version {obj.name} and its files.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:ingestion_datasetversion_changelist"))
        return super().delete_view(request, object_id, extra_context)

    @admin.action(description="Cancel selected builds", permissions=["change"])
    def cancel_builds(self, request, queryset):
        count = services.cancel_dataset_builds(queryset)
        self.message_user(request, f"Asked {count} build{pluralize(count)} to stop.", messages.SUCCESS)

    @admin.action(description="Delete selected versions and their files (unused ones only)", permissions=["delete"])
    def delete_versions(self, request, queryset):
        deleted = 0
        for version in queryset:
            try:
                services.delete_dataset_version(version)
                deleted += 1
            except services.BuildRefused as exc:
                self.message_user(request, str(exc), messages.WARNING)
        if deleted:
            self.message_user(request, f"Deleted {deleted} version{pluralize(deleted)} and their files.", messages.SUCCESS)

    def progress(self, ids):
        """The state of the builds in ?ids=1,2 (polled by admin_progress.js)."""
        return {"versions": [
            {**version.progress(), "html": version_progress_html(version)} for version in selectors.dataset_versions_by_ids(ids)
        ]}
