from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from .dataset import DEFAULT_SPLIT_SEED, DEFAULT_TEST_RATIO
from .labels import CLASS_CHOICES, LABEL_CHOICES, display_name


class ScrapeJob(models.Model):
    """One search on one site, run as a background job until `target_count` photos are stored."""

    class Source(models.TextChoices):
        FLICKR = "flickr", "Flickr"
        IMGUR = "imgur", "Imgur"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    source = models.CharField(max_length=20, choices=Source.choices, default=Source.FLICKR)
    query = models.CharField(max_length=200, help_text="Search words, e.g. “budgie bird”.")
    label = models.CharField(max_length=20, choices=CLASS_CHOICES)
    target_count = models.PositiveIntegerField(default=100, help_text="Stop once this many new photos are stored.")
    base_url = models.URLField(
        blank=True,
        help_text="Leave blank for the real site; set it to scrape a mirror. A host on a private or loopback "
        "address (a local test server) must also be listed in PETSITE_SCRAPE_ALLOWED_HOSTS."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    found_count = models.PositiveIntegerField(default=0, help_text="Photo URLs found on result pages.")
    downloaded_count = models.PositiveIntegerField(default=0, help_text="Photos stored by this job.")
    skipped_count = models.PositiveIntegerField(default=0, help_text="Duplicates and too-small pictures.")
    failed_count = models.PositiveIntegerField(default=0, help_text="Downloads that failed or were not images.")
    pages_count = models.PositiveIntegerField(default=0, help_text="Result pages read.")
    message = models.TextField(blank=True)
    error = models.TextField(blank=True)
    runs = models.PositiveIntegerField(default=0, help_text="How many times the job was started or resumed.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Touched with every progress update, so a job whose worker died can be told from a slow one.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False, help_text="Staff asked the running job to stop.")
    auto_accept_confidence = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Accept a stored photo without review when the live model gives it this job's label with at least "
        "this confidence (0-1, e.g. 0.95). Blank: never; staff curate every photo.",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.get_source_display()} “{self.query}” → {self.label} (#{self.pk})"

    @property
    def is_finished(self):
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def progress_percent(self):
        if not self.target_count:
            return 100
        return min(100, round(100 * self.downloaded_count / self.target_count))

    def progress(self):
        """What the admin's live progress display needs."""
        return {
            "id": self.pk,
            "status": self.status,
            "status_display": self.get_status_display(),
            "found": self.found_count,
            "downloaded": self.downloaded_count,
            "skipped": self.skipped_count,
            "failed": self.failed_count,
            "pages": self.pages_count,
            "target": self.target_count,
            "percent": self.progress_percent,
            "message": self.error or self.message,
        }


def scraped_upload_to(instance, filename):
    # <MEDIA_ROOT>/scraped/<label>/: one folder per job label. Only accepted photos enter datasets (through
    # PETSITE_DATASET_EXTRA_SOURCES); rebuild_dataset refuses the folder itself as a source.
    return f"scraped/{instance.label}/{filename}"


class ScrapedPhoto(models.Model):
    """A photo the scraper stored, with where it came from and the hashes used to refuse duplicates.

    Scored by the live model when stored (PETSITE_SCRAPED_PHOTO_SCORER) and curated by staff: only accepted photos
    enter datasets; a rejected one keeps its row (its hashes), so a later scrape never stores it again.
    """

    class Review(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"

    job = models.ForeignKey(ScrapeJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="photos")
    url = models.URLField(max_length=2000, db_index=True)
    # The photo's id on its site, so it is stored once whatever size it was seen at (None: a URL no layout explains).
    site_photo_id = models.CharField(
        max_length=100, unique=True, null=True, blank=True, help_text="The site's own id, e.g. flickr:53012345678."
    )
    query = models.CharField(max_length=200)
    label = models.CharField(max_length=20, choices=CLASS_CHOICES, db_index=True)
    sha256 = models.CharField(max_length=64, unique=True)
    phash = models.CharField(max_length=16, db_index=True, help_text="64-bit perceptual hash, hex.")
    file = models.FileField(upload_to=scraped_upload_to, max_length=300)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    size_bytes = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    # The live model's answer when the photo was stored (blank: it could not be scored).
    predicted_label = models.CharField(max_length=20, choices=LABEL_CHOICES, blank=True)
    predicted_confidence = models.FloatField(null=True, blank=True)  # how sure overall, as the public pages say it
    pet_score = models.FloatField(null=True, blank=True)
    scored_with = models.CharField(max_length=80, blank=True, help_text="The model version that scored it.")
    # Curation.
    review_state = models.CharField(max_length=10, choices=Review.choices, default=Review.PENDING, db_index=True)
    curated_label = models.CharField(
        max_length=20, choices=CLASS_CHOICES, blank=True, help_text="The class staff gave it, when not the search label."
    )
    auto_accepted = models.BooleanField(default=False, help_text="Accepted by its job's confidence rule, not by a person.")
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.label}: {self.url}"

    @property
    def dataset_label(self):
        """The class it enters datasets under (once accepted)."""
        return self.curated_label or self.label

    @property
    def model_disagrees(self):
        return bool(self.predicted_label) and self.predicted_label != self.label

    @property
    def predicted_display(self):
        return display_name(self.predicted_label)


class DatasetVersion(models.Model):
    """One built dataset: its inputs, per-class counts, manifest digest and what changed since the previous one.

    Built by a background job (services.start_dataset_version) into PETSITE_DATASETS_ROOT/<name>/ in the layout
    training reads (train/<class>/*, test/<class>/*, manifest.json). Immutable once built: a new build is a new
    version; an unused one may be deleted with its files.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Building"
        BUILT = "built", "Built"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        # Its worker stopped reporting (killed, restarted): nothing kept; staff may resume (build it again).
        INTERRUPTED = "interrupted", "Interrupted"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    name = models.SlugField(max_length=80, unique=True, help_text="Letters, digits, - and _; the folder's name.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    # True while queued or running, NULL otherwise: the unique index lets only one build run at a time.
    building = models.BooleanField(null=True, unique=True, default=True, editable=False)
    # What it is built from.
    folders = models.JSONField(default=list, help_text="Base photo folders, each holding one subfolder per class.")
    extra_sources = models.JSONField(default=list, help_text="Dotted paths of the functions giving labelled photos.")
    frame = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Blank: photos stored whole (long side at most 512 px, PNG), serving every model. "
        "A number: the old fit-and-pad view, each photo padded into a square of this many pixels.",
    )
    test_ratio = models.FloatField(default=DEFAULT_TEST_RATIO)
    seed = models.IntegerField(default=DEFAULT_SPLIT_SEED)
    # What it holds (filled when built).
    inputs_by_source = models.JSONField(default=dict, blank=True, help_text="Photos each folder and source gave.")
    counts = models.JSONField(default=dict, blank=True, help_text="{class: {train: n, test: n}}.")
    photo_count = models.PositiveIntegerField(default=0)
    digest = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the manifest's file list.")
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    diff = models.JSONField(
        default=dict, blank=True, help_text="{class: {split: {added: n, removed: n}}} against the previous version."
    )
    report = models.JSONField(default=dict, blank=True, help_text="Duplicates removed, unreadable photos, conflicts.")
    # The build job.
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    # Which attempt at the build a worker holds: raised when a worker starts it and when it is resumed. A worker writes
    # (heartbeat, end) only while the row is still building its attempt: one marked interrupted stops at its next write.
    attempt = models.PositiveIntegerField(default=0, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    build_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        if self.pk and DatasetVersion.objects.filter(pk=self.pk, status=self.Status.BUILT).exists():
            raise ImmutableDatasetVersion(f"Dataset version {self.name} is built and cannot be changed; build a new version.")
        super().save(*args, **kwargs)

    @property
    def is_active(self):
        return self.status in self.ACTIVE

    @property
    def is_built(self):
        return self.status == self.Status.BUILT

    @property
    def progress_percent(self):
        if self.status == self.Status.BUILT:
            return 100
        return round(100 * self.progress_done / self.progress_total) if self.progress_total else 0

    def split_total(self, split):
        return sum(counts.get(split, 0) for counts in self.counts.values())

    def progress(self):
        """What the admin's live progress display needs."""
        return {
            "id": self.pk, "name": self.name, "status": self.status, "status_display": self.get_status_display(),
            "done": self.progress_done, "total": self.progress_total, "percent": self.progress_percent,
            "active": self.is_active, "message": self.error or self.message,
        }


class ImmutableDatasetVersion(ValueError):
    """A built dataset version was asked to change."""


class PhotoSplit(models.Model):
    """The split a photo (by content hash) was first placed in; later builds keep it there, whatever its group."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    split = models.CharField(max_length=5, choices=[("train", "train"), ("test", "test")])
    first_version = models.ForeignKey(DatasetVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self):
        return f"{self.sha256[:12]}: {self.split}"
