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
