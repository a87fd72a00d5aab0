from django.conf import settings
from django.db import models

from .labels import CLASS_CHOICES


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
    # <MEDIA_ROOT>/scraped/<label>/ is the `<dir>/<class>/*` layout that rebuild_dataset reads.
    return f"scraped/{instance.label}/{filename}"


class ScrapedPhoto(models.Model):
    """A photo the scraper stored, with where it came from and the hashes used to refuse duplicates."""

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

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.label}: {self.url}"
