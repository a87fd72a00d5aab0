import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.db import models
from django.urls import reverse

from ingestion.images import BROWSER_SUFFIXES, FORMAT_EXTENSIONS
from ingestion.labels import CLASSES, LABEL_CHOICES, display_name


def upload_path(instance, filename):
    # Server-generated names only; the sender's file name is kept as data, never as a path.
    extension = FORMAT_EXTENSIONS.get(instance.image_format, "img")
    return f"uploads/{instance.created_at_prefix()}/{uuid.uuid4().hex}.{extension}"


class Prediction(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Classifying"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    image = models.ImageField(upload_to=upload_path, width_field="width", height_field="height")
    thumbnail = models.ImageField(upload_to="thumbnails/", blank=True)
    # The copy the result page shows (JPEG, long side at most services.DISPLAY_SIDE): never the original upload.
    display_image = models.ImageField(upload_to="display/", blank=True)
    # Where the model looked (classifier.heatmap): a transparent PNG in the display copy's proportions, laid over it
    # on the result page. Made by the worker with the answer when the model has class maps; empty otherwise.
    heatmap = models.ImageField(upload_to="heatmaps/", blank=True)
    image_format = models.CharField(max_length=10, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    original_filename = models.CharField(max_length=255, blank=True)
    # SHA-256 of the uploading browser's token (classifier.views: its uploader may delete it); blank: an API upload.
    uploader = models.CharField(max_length=64, blank=True, editable=False)
    content_hash = models.CharField(max_length=64, blank=True, db_index=True)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    label = models.CharField(max_length=20, choices=LABEL_CHOICES, blank=True, db_index=True)
    confidence = models.FloatField(null=True, blank=True)
    probabilities = models.JSONField(default=dict, blank=True)
    pet_score = models.FloatField(null=True, blank=True)
    model_version = models.CharField(max_length=80, blank=True)
    inference_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="When a classification task was last sent for it.")
    # Set by the delivery that is classifying the row and renewed while it works (classifier.services), so the
    # sweeper tells a classification in progress from one whose worker died.
    claimed_at = models.DateTimeField(null=True, blank=True, db_index=True, help_text="When a worker last confirmed it was classifying it.")
    claimed_by = models.CharField(max_length=64, blank=True, help_text="The task delivery classifying it.")

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    true_label = models.CharField(max_length=20, choices=LABEL_CHOICES, blank=True, db_index=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self):
        checked = f", checked as {self.get_true_label_display().lower()}" if self.true_label else ""  # the admin's messages after a relabel
        return f"Prediction {self.pk} ({self.status}{': ' + self.label if self.label else ''}{checked})"

    def created_at_prefix(self):
        from django.utils import timezone

        return (self.created_at or timezone.now()).strftime("%Y/%m/%d")

    def get_absolute_url(self):
        return reverse("classifier:prediction", args=[self.pk])

    @property
    def label_display(self):
        return display_name(self.label)

    @property
    def true_label_display(self):
        return display_name(self.true_label)

    # Whether the viewer of this instance may see the original (its uploader or staff: classifier.media serves it to
    # no one else); views that know set it. Without it, a photo without copies yet shows as waiting.
    original_visible = False

    def shown_image(self, prefer_thumbnail=False):
        """The stored picture a page shows: the JPEG display copy or thumbnail (the worker makes both), else, for a viewer
        who may fetch it (original_visible), the original while it has none, but only in a format every browser shows (a
        HEIC one waits for its copies). None: nothing to show yet."""
        copies = [self.thumbnail, self.display_image] if prefer_thumbnail else [self.display_image, self.thumbnail]
        for picture in copies:
            if picture:
                return picture
        if self.original_visible and self.image and PurePosixPath(self.image.name).suffix.lower() in BROWSER_SUFFIXES:
            return self.image
        return None

    @property
    def page_image(self):
        """What a prediction's page (and the review queue) shows; see shown_image."""
        return self.shown_image()

    @property
    def tile_image(self):
        """What a list tile shows: the thumbnail first; see shown_image."""
        return self.shown_image(prefer_thumbnail=True)

    def sorted_probabilities(self):
        """[(label, display name, probability)] in class order, for the bars."""
        return [(label, display_name(label), float(self.probabilities.get(label, 0.0))) for label in CLASSES if label in self.probabilities]
