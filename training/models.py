from django.conf import settings
from django.db import models

from ingestion.labels import CLASSES


class ModelVersion(models.Model):
    """A trained model file and everything needed to serve, compare and reproduce it."""

    name = models.SlugField(max_length=80, unique=True, help_text="Version name, e.g. default-20261124-2300.")
    architecture = models.CharField(max_length=40)
    classes = models.JSONField(default=list)
    input_size = models.PositiveIntegerField(default=224)
    file_path = models.CharField(max_length=500, help_text="Path of the .keras file (absolute, or relative to MEDIA_ROOT).")
    unknown_threshold = models.FloatField(null=True, blank=True, help_text="Pet score below which the answer is 'unknown'.")
    params = models.JSONField(default=dict, blank=True)
    dataset_digest = models.CharField(max_length=80, blank=True)
    class_counts = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    training_seconds = models.FloatField(null=True, blank=True)
    curves_image = models.ImageField(upload_to="models/reports/", blank=True)
    confusion_image = models.ImageField(upload_to="models/reports/", blank=True)
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Exactly one active version at a time, enforced by the database.
            models.UniqueConstraint(fields=["is_active"], condition=models.Q(is_active=True), name="one_active_model_version"),
        ]

    def __str__(self):
        return f"{self.name}{' (active)' if self.is_active else ''}"

    @property
    def resolved_path(self):
        from pathlib import Path

        path = Path(self.file_path)
        return path if path.is_absolute() else Path(settings.MEDIA_ROOT) / path

    @property
    def accuracy(self):
        return (self.metrics or {}).get("accuracy")

    def spec(self):
        from training.registry import ModelSpec

        return ModelSpec(
            version=self.name,
            path=self.resolved_path,
            classes=tuple(self.classes or CLASSES),
            input_size=self.input_size,
            unknown_threshold=self.unknown_threshold,
        )


class TrainingRun(models.Model):
    """One training job started from the admin (or a command); at most one is in progress at a time."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ARCHITECTURE_CHOICES = [("default", "default (EfficientNet-Lite0 transfer)"), ("seed", "seed (baseline CNN)")]

    architecture = models.CharField(max_length=40, choices=ARCHITECTURE_CHOICES, default="default")
    data_dir = models.CharField(max_length=500, help_text="Dataset folder with train/CLASS/ and test/CLASS/ subfolders, as `manage.py rebuild_dataset` writes it.")
    epochs = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: the architecture's default.")
    activate_on_success = models.BooleanField(default=False, help_text="Make the new version active when the run succeeds.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    # True while queued or running; the unique constraint below allows only one such run.
    in_progress = models.BooleanField(default=True, editable=False)
    cancel_requested = models.BooleanField(default=False)
    phase = models.CharField(max_length=80, blank=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    epoch = models.PositiveIntegerField(default=0)
    total_epochs = models.PositiveIntegerField(default=0)
    current_metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_runs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["in_progress"], condition=models.Q(in_progress=True), name="one_training_run_in_progress"),
        ]

    def __str__(self):
        return f"Training run #{self.pk} ({self.architecture}, {self.status})"

    @property
    def fraction(self):
        """Overall progress 0..1: feature extraction and epochs both count."""
        if self.status == self.Status.SUCCEEDED:
            return 1.0
        if self.total_epochs and self.epoch:
            return min(1.0, self.epoch / self.total_epochs)
        if self.total:
            return min(1.0, self.done / self.total) * 0.5
        return 0.0
