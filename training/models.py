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
    # The dataset version it was trained on (None: a plain folder, or the shipped model); a version in use is kept.
    dataset_version = models.ForeignKey(
        "ingestion.DatasetVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="model_versions",
    )
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
        # Its worker stopped reporting (killed, restarted): the error says where; staff may resume it from there.
        INTERRUPTED = "interrupted", "Interrupted"

    ARCHITECTURE_CHOICES = [("default", "default (EfficientNet-Lite0 transfer)"), ("seed", "seed (baseline CNN)")]

    class Step(models.TextChoices):
        BUILD = "build", "1. Build a dataset version"
        TRAIN = "train", "2. Train"
        COMPARE = "compare", "3. Compare and promote"
        DONE = "done", "Done"

    architecture = models.CharField(max_length=40, choices=ARCHITECTURE_CHOICES, default="default")
    dataset_version = models.ForeignKey(
        "ingestion.DatasetVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="training_runs",
        help_text="The built dataset version to train on (newest first).",
    )
    data_dir = models.CharField(max_length=500, blank=True, help_text="Dataset folder with train/CLASS/ and test/CLASS/ subfolders (the dataset version's folder).")
    epochs = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: the architecture's default.")
    activate_on_success = models.BooleanField(
        default=False, verbose_name="promote if better",
        help_text="Make the new version live when it passes the promotion rules against the live model; otherwise it waits as a candidate.",
    )
    # "Retrain now": build a dataset version from everything accepted and reviewed first, then train, compare, promote.
    retrain = models.BooleanField(default=False, editable=False)
    step = models.CharField(max_length=10, choices=Step.choices, default=Step.TRAIN)
    options = models.JSONField(default=dict, blank=True, help_text="Other TrainingOptions (input_size, seed, ...).")
    outcome = models.TextField(blank=True, help_text="What the comparison and the promotion rules decided.")
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
    # The name its model version gets, chosen before training: a resumed run finds (and discards) what an interrupted
    # attempt left under it.
    version_name = models.CharField(max_length=80, blank=True, editable=False)
    # Which attempt at the run a worker holds: raised when a worker claims it and when it is resumed. A worker writes
    # (progress, end) only while the row is still running its attempt: one marked interrupted stops at its next write.
    attempt = models.PositiveIntegerField(default=0, editable=False)
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
    def kind(self):
        """What staff call this run: a "Retrain now" job, or a training run started by itself."""
        return "Retrain" if self.retrain else "Training run"

    @property
    def fraction(self):
        """Overall progress 0..1: feature extraction and epochs both count; a retrain's three steps share the bar."""
        if self.status == self.Status.SUCCEEDED:
            return 1.0
        if self.step == self.Step.BUILD:
            training = min(1.0, self.done / self.total) if self.total else 0.0
        elif self.step in (self.Step.COMPARE, self.Step.DONE):
            training = 1.0
        elif self.total_epochs and self.epoch:
            training = min(1.0, self.epoch / self.total_epochs)
        elif self.total:
            training = min(1.0, self.done / self.total) * 0.5
        else:
            training = 0.0
        if not self.retrain:
            return 0.95 if self.step == self.Step.COMPARE else training
        start, width = {self.Step.BUILD: (0.0, 0.25), self.Step.TRAIN: (0.25, 0.65)}.get(self.step, (0.9, 0.1))
        return start + width * (training if self.step != self.Step.COMPARE else 0.5)


class ModelComparison(models.Model):
    """A candidate and the live model evaluated on the same photos (a dataset version's test split + the benchmark
    folder), with the promotion rules' verdict and what staff decided (training.comparison, training.promotion)."""

    class Decision(models.TextChoices):
        PENDING = "", "Not decided"
        PROMOTED = "promoted", "Promoted (rules passed)"
        HELD = "held", "Held back as a candidate"
        FORCED = "forced", "Promoted anyway"

    candidate = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="comparisons")
    live = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    live_name = models.CharField(max_length=120, blank=True, help_text="The live model's version (also when it has no row).")
    dataset_version = models.ForeignKey("ingestion.DatasetVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    data_dir = models.CharField(max_length=500, blank=True)
    benchmark_dir = models.CharField(max_length=500, blank=True)
    results = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, help_text="Why the models could not be compared (e.g. their classes differ).")
    rules_passed = models.BooleanField(default=False)
    rule_failures = models.JSONField(default=list, blank=True)
    decision = models.CharField(max_length=10, choices=Decision.choices, blank=True, default="")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True, help_text="Why it was promoted anyway.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.candidate.name} vs {self.live_name or '-'}"
