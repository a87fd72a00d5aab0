"""Reads of the classifier app: views, the API and the admin ask these instead of querying models themselves."""
import math
from dataclasses import dataclass

from django.db.models import Q

from ingestion.labels import CLASSES, UNKNOWN, display_name
from ingestion.selectors import filter_given
from training.registry import NoModelAvailable, active_spec, spec_from_file

from .models import Prediction

# The review states both the history page and the admin filter on ("" means either).
REVIEW_STATES = [("yes", "Reviewed"), ("no", "Not reviewed")]


def prediction_by_id(prediction_id):
    """The prediction with this id, or None."""
    return Prediction.objects.filter(pk=prediction_id).first()


# What the API answers about one prediction: its own columns only (no joins), read by primary key.
PREDICTION_FIELDS = (
    "id", "status", "label", "confidence", "probabilities", "pet_score", "model_version", "created_at", "completed_at",
    "true_label", "reviewed_at", "error", "image", "display_image", "thumbnail",
    *(["heatmap"] if any(f.name == "heatmap" for f in Prediction._meta.concrete_fields) else []),
)


MAX_ID = 2**63 - 1  # a URL's id past the database's 64-bit integers is no prediction (and would overflow the query)


def prediction_or_none(prediction_id):
    """The prediction `prediction_id`, or None."""
    return Prediction.objects.filter(pk=prediction_id).first() if prediction_id <= MAX_ID else None


def prediction_values(prediction_id):
    """The API's columns (PREDICTION_FIELDS) of one prediction as a dict, or None: one primary-key lookup."""
    if prediction_id > MAX_ID:
        return None
    rows = list(Prediction.objects.filter(pk=prediction_id).order_by().values(*PREDICTION_FIELDS)[:1])
    return rows[0] if rows else None


# The photo tile grids (the home page's "Recently classified" and upload batch, the history) have TILE_COLUMNS columns
# on a wide screen and half as many on a phone (base.html's .grid reads them through the `tile_columns` tag); the home
# page shows two full rows of recent predictions (four on a phone), never a ragged last row.
TILE_COLUMNS = 4
PHONE_TILE_COLUMNS = TILE_COLUMNS // 2
RECENT_COUNT = 2 * TILE_COLUMNS


def recent_predictions(limit=RECENT_COUNT):
    """The newest finished predictions, for the home page."""
    return Prediction.objects.filter(status=Prediction.Status.DONE)[:limit]


def filter_predictions(predictions=None, *, label="", reviewed="", answer="", since=None):
    """`predictions` (default: all, newest first) of predicted `label` and review state "yes" / "no"; "" keeps all.

    `answer`: the label a person sees as the answer: the reviewed label when there is one, else the predicted one
    (a photo staff relabelled as dog is found under "dog"). `since`: created at or after this datetime.
    """
    predictions = Prediction.objects.all() if predictions is None else predictions
    if label:
        predictions = predictions.filter(label=label)
    if answer:
        predictions = predictions.filter(Q(true_label=answer) | Q(true_label="", label=answer))
    if since is not None:
        predictions = predictions.filter(created_at__gte=since)
    if reviewed == "yes":
        predictions = predictions.exclude(true_label="")
    elif reviewed == "no":
        predictions = predictions.filter(true_label="")
    return predictions


def live_model_status():
    """{"available": True, "version": name} for the model uploads are classified with, else the reason there is none."""
    try:
        return {"available": True, "version": active_spec().version}
    except NoModelAvailable as exc:
        return {"available": False, "message": str(exc)}


def reviewed_photos_for_dataset():
    """(image path, corrected label) of every reviewed pet photo.

    Declared in settings.PETSITE_DATASET_EXTRA_SOURCES: how reviewed predictions reach rebuild_dataset
    (ingestion never imports the classifier). Photos reviewed as "not a pet" are left out.
    """
    rows = Prediction.objects.exclude(true_label="").exclude(true_label=UNKNOWN).order_by("pk")
    examples = []
    for prediction in rows:
        try:
            examples.append((prediction.image.path, prediction.true_label))
        except NotImplementedError:  # remote storage: no local path
            continue
    return examples


def predictions_page(predictions, *, after=None, limit=20):
    """Up to `limit` of `predictions` (newest first) older than the one with id `after` (a cursor), and whether more follow."""
    predictions = predictions.order_by("-created_at", "-id")
    if after is not None:
        cursor = Prediction.objects.filter(pk=after).values("created_at").first()
        if cursor is None:  # deleted since that page was served: ids grow with creation time, so older is smaller
            predictions = predictions.filter(pk__lt=after)
        else:
            predictions = predictions.filter(Q(created_at__lt=cursor["created_at"]) | Q(created_at=cursor["created_at"], pk__lt=after))
    rows = list(predictions[: limit + 1])
    return rows[:limit], len(rows) > limit


def unknown_threshold_of(model_version):
    """The unknown threshold (pet score below which the answer is "not a pet") of the model that made a prediction.

    From its ModelVersion row, else the card of the shipped model file when that is the version; None if unknown.
    """
    if not model_version:
        return None
    from training.models import ModelVersion

    row = ModelVersion.objects.filter(name=model_version).values("unknown_threshold").first()
    if row is not None:
        return row["unknown_threshold"]
    from django.conf import settings

    try:
        spec = spec_from_file(settings.PETSITE_MODEL_PATH)
    except NoModelAvailable:
        return None
    return spec.unknown_threshold if spec.version == model_version else None


# A pet score this close to the model's threshold is a borderline answer, and the page says so.
BORDERLINE_MARGIN = 0.1
# A pet answer less sure than this overall names what else it may be (another pet, or none of the six); under
# PERHAPS_BELOW its headline says "Perhaps a dog" (a guitar whose pet score just passed the threshold: "Dog, 14% sure").
UNSURE_BELOW = 0.75
PERHAPS_BELOW = 0.5
PENDING_SLOW_SECONDS = 20  # after this, a pending prediction's page says it is taking longer than usual


@dataclass(frozen=True)
class Answer:
    """What the public pages say about one prediction (one place, so every page words it the same)."""

    status: str
    label: str  # the answer shown: the reviewed label when there is one, else the model's ("" while pending or failed)
    name: str  # its display name ("Dog", "Not a pet")
    reviewed: bool
    model_label: str  # the model's own answer
    model_name: str
    figure: float | None  # how sure the model is of its own answer overall: for a pet, its share x pet score; "not a pet": 1 - pet score
    not_a_pet: bool  # the model's answer is "not a pet": class bars are only the closest pets
    borderline: bool  # the pet score is near the model's threshold
    bars: tuple = ()  # Bar rows of the result page, on the same scale as `figure` (the headline can't contradict them)
    bars_among_pets: bool = False  # no pet score (a model without one, or an old row): the bars are shares among the six pets, and say so
    faint: bool = False  # "not a pet" and every closest pet words as "under 1%": the page says it saw no sign of any
    other: float | None = None  # a pet answer: 1 - pet score, the part that may be none of the six pets (None: under 1%)
    heatmap_caption: str = ""  # which class the heat map shows ("Where the model saw a hamster")
    alternative: "Bar | None" = None  # an unsure pet answer (under UNSURE_BELOW): the likeliest other answer (label UNKNOWN: none of the six)

    @property
    def headline(self):
        """The result page's headline: the answer's name, hedged when it is an unsure pet answer under PERHAPS_BELOW."""
        if self.alternative is not None and self.figure is not None and percent_points(self.figure) < PERHAPS_BELOW * 100:
            return f"Perhaps a {self.name.lower()}"  # every pet's name starts with a consonant
        return self.name

    @property
    def title(self):
        if self.status == "pending":
            return "Classifying…"
        if self.status == "failed":
            return "Could not classify"
        return self.headline

    @property
    def alt(self):
        if self.status != "done":
            return "Your uploaded photo"
        if self.reviewed:
            return f"Photo checked by our team as {self.name.lower() if self.label != UNKNOWN else 'not a pet'}"
        if self.not_a_pet:
            return "Photo classified as not a pet"
        return f"Photo classified as {self.name.lower()}"


@dataclass(frozen=True)
class Bar:
    label: str
    name: str
    value: float
    top: bool


def _pet_shares(prediction):
    return [(label, float(prediction.probabilities.get(label, 0.0))) for label in CLASSES if label in (prediction.probabilities or {})]


def answer_figure_and_bars(prediction):
    """(figure, bars, bars_among_pets, other) of a finished prediction, all on one scale: how sure the model is overall.

    The stored `probabilities` are each pet's share among the six pets and `pet_score` the model's belief that the photo
    shows a pet at all, so a pet's overall probability is share x pet score and "not a pet" is 1 - pet score. A pet
    answer's figure is its class's overall probability (a guinea pig answered "Hamster" at share 0.9987 and pet score
    0.661 reads "66% sure", not "over 99%"); its bars are the six pets on that scale, so its own bar is always the
    longest (no "Not a pet" bar: at pet score 0.48 it would outgrow the answer's), and `other` is the rest, 1 - pet
    score, that the page names in one quiet line (None when it rounds under 1%). A "not a pet" answer's figure is
    1 - pet score; its bars are only the closest pets (greyed), on the same scale. Without a pet score (a model without
    a pet-score output, or a row from before it was stored) the figure is the stored confidence and the bars are the
    shares. The highlighted bar is always the stored label's (two pets at the same share: the one answered).
    """
    shares = _pet_shares(prediction)
    pet_score = prediction.pet_score
    not_a_pet = prediction.label == UNKNOWN
    if pet_score is None:
        bars = tuple(Bar(label, display_name(label), p, label == prediction.label) for label, p in shares)
        return prediction.confidence, bars, True, None
    pet_score = float(pet_score)
    bars = tuple(Bar(label, display_name(label), p * pet_score, label == prediction.label) for label, p in shares)
    if not_a_pet:  # the closest pets, most alike first (stable: equal values keep the six pets' order)
        return 1.0 - pet_score, tuple(sorted(bars, key=lambda bar: bar.value, reverse=True)), False, None
    figure = float(prediction.confidence if prediction.confidence is not None else 0.0) * pet_score
    other = 1.0 - pet_score
    # Worded by the `percent` filter: under 1% is not worth a line.
    return figure, bars, False, (other if percent_points(other) >= 1 else None)


def percent_points(probability):
    """The whole percent every page prints for `probability` (halves round up, as the pages' script's Math.round):
    the `percent` filter words 0 as "under 1%" and 100 as "over 99%"."""
    return math.floor(float(probability) * 100 + 0.5)


def answer_sureness(prediction):
    """How sure the model is of its stored answer, as every page says it (answer_figure_and_bars' figure), or None
    while the prediction is not finished. Staff pages show it beside the share among the six pets, so the admin, the
    review queue and the public page never disagree about one prediction."""
    if prediction.status != Prediction.Status.DONE or prediction.confidence is None and prediction.pet_score is None:
        return None
    if prediction.label != UNKNOWN and prediction.confidence is None:
        return None  # a pet answer without its share: no figure, not "under 1%"
    return answer_figure_and_bars(prediction)[0]


def unsaved_answer(result):
    """An unsaved finished Prediction holding an inference result's answer, so the pages' rules (answer_sureness,
    heatmap_caption) can read a result before it is stored, or one that never is (a scraped photo's score)."""
    return Prediction(status=Prediction.Status.DONE, label=result.label, confidence=result.confidence,
                      probabilities=result.probabilities, pet_score=result.pet_score)


def answer_share(prediction):
    """A pet answer's share among the six pets (the API's `confidence`), which staff pages show beside the figure when
    it differs from it (a pet score to multiply by); None otherwise."""
    if prediction.label == UNKNOWN or prediction.confidence is None or prediction.pet_score is None:
        return None
    return prediction.confidence


def heatmap_caption(prediction, bars):
    """What the heat map shows: where the model saw its answer, or for "not a pet" where the photo looked most like the
    closest pet (the worker maps the best pet class either way); "" (no heat map) when even that pet is under 1%, so
    the page never claims the model saw a pet it did not. `bars`: answer_figure_and_bars' (closest pet first)."""
    if prediction.status != Prediction.Status.DONE:
        return ""
    if prediction.label != UNKNOWN:
        return f"Where the model saw a {display_name(prediction.label).lower()}"
    if not bars or percent_points(bars[0].value) <= 0:
        return ""
    return f"Where the photo looked most like a {bars[0].name.lower()}"


def likeliest_alternative(label, figure, bars, other):
    """For a pet answer under UNSURE_BELOW overall: the likeliest other answer as a Bar, the next pet or, when the
    part that may be none of the six pets (`other`) is larger, UNKNOWN; None for a surer answer. A guinea pig
    answered "Hamster" at 57% has 42% on "none of the six": the page says so instead of looking sure."""
    if label == UNKNOWN or figure is None or percent_points(figure) >= UNSURE_BELOW * 100:  # as the page words it
        return None
    runner_up = max((bar for bar in bars if bar.label != label), key=lambda bar: bar.value, default=None)
    if other is not None and (runner_up is None or other >= runner_up.value):
        return Bar(UNKNOWN, display_name(UNKNOWN), other, False)
    return runner_up


def prediction_answer(prediction, with_borderline=True):
    """The Answer the public pages show for `prediction`. `with_borderline=False` (the grids' tiles, which show only
    the answer and its figure) leaves `borderline` False without looking up the model's threshold (a query, maybe a
    file), and skips the heat map's caption, which only the result page says; the unsure answer's alternative is kept
    (no query), so a tile hedges its name as the page's headline does ("Perhaps a dog")."""
    done = prediction.status == Prediction.Status.DONE
    model_label = prediction.label if done else ""
    label = prediction.true_label or model_label
    not_a_pet = model_label == UNKNOWN
    figure, bars, among_pets, other = None, (), False, None
    if done:
        figure, bars, among_pets, other = answer_figure_and_bars(prediction)
    borderline, reviewed = False, bool(prediction.true_label)
    if with_borderline and done and not reviewed and prediction.pet_score is not None:  # staff checked it: no doubt left
        threshold = unknown_threshold_of(prediction.model_version)
        borderline = threshold is not None and abs(prediction.pet_score - threshold) < BORDERLINE_MARGIN
    return Answer(
        status=prediction.status, label=label, name=display_name(label), reviewed=reviewed,
        model_label=model_label, model_name=display_name(model_label), figure=figure, not_a_pet=not_a_pet, borderline=borderline,
        bars=bars, bars_among_pets=among_pets, other=other, heatmap_caption=heatmap_caption(prediction, bars) if with_borderline else "",
        faint=not_a_pet and bool(bars) and all(percent_points(bar.value) <= 0 for bar in bars),
        alternative=None if reviewed or prediction.confidence is None
        else likeliest_alternative(model_label, figure, bars, other),  # no stored share: no figure to doubt
    )


def is_slow(prediction, now=None):
    """Whether a pending prediction has waited longer than usual (its page says so and keeps checking)."""
    from django.utils import timezone

    if prediction.status != Prediction.Status.PENDING or prediction.created_at is None:
        return False
    return ((now or timezone.now()) - prediction.created_at).total_seconds() > PENDING_SLOW_SECONDS


def failure_explanation(prediction):
    """What went wrong with a failed prediction, in plain words, and whether trying again may help."""
    error = prediction.error or ""
    if "No model" in error:
        return {"text": "We can't classify photos at the moment: no model has been set up yet. Please try again later.", "retry": True}
    if "Gave up" in error or "several attempts" in error:
        return {"text": "Something went wrong on our side each time we tried to classify this photo. Trying again often helps.", "retry": True}
    if "could not be read" in error:
        return {"text": "We could not open the photo we stored for you. Please try again, or upload it once more.", "retry": True}
    # Decoding problems: their message already names what is wrong with the file; another attempt will not help.
    if error:
        return {"text": f"{error.rstrip('.')}. Please try a different photo.", "retry": False}
    return {"text": "Something went wrong while classifying this photo.", "retry": True}


# Review queue (staff) ----------------------------------------------------------------------------------------------

# The unknown threshold assumed for a prediction whose model's threshold is not known.
DEFAULT_UNKNOWN_THRESHOLD = 0.5


def _review_thresholds(versions):
    """{model version name: its unknown threshold} (the default where unknown)."""
    from training.models import ModelVersion

    found = dict(ModelVersion.objects.filter(name__in=versions).values_list("name", "unknown_threshold"))
    try:
        live = active_spec()
        found.setdefault(live.version, live.unknown_threshold)
    except NoModelAvailable:
        pass
    return {version: found.get(version) if found.get(version) is not None else DEFAULT_UNKNOWN_THRESHOLD for version in versions}


def review_uncertainty(probabilities, pet_score, threshold, not_a_pet):
    """How sure the model was, lower is less sure. A "not a pet" answer (`not_a_pet`: the stored label, not a pet score
    compared again with a threshold the model may never have had): the pet score's distance from the threshold only
    (its closest pets being close to each other says nothing about the answer); a pet answer: the smaller of that
    distance and the margin between its two top classes. Without a pet score: the margin."""
    values = sorted((float(p) for p in (probabilities or {}).values()), reverse=True)
    margin = values[0] - values[1] if len(values) > 1 else 1.0
    if pet_score is None:
        return margin
    distance = abs(float(pet_score) - threshold)
    if not_a_pet:
        return distance
    return min(margin, distance)


def review_candidates(*, label="", model_version="", since=None, until=None):
    """Finished predictions the queue may show, filtered by predicted label, model version and creation date."""
    return filter_given(Prediction.objects.filter(status=Prediction.Status.DONE), label=label, model_version=model_version,
                        created_at__date__gte=since, created_at__date__lte=until)


def review_queue(*, skipped=(), include_reviewed=False, **filters):
    """Prediction ids in review order: unreviewed first (then, with `include_reviewed`, reviewed ones), each part
    most uncertain first (review_uncertainty), oldest first on ties; `skipped` ids go last within their part."""
    rows = list(review_candidates(**filters).values_list("pk", "probabilities", "pet_score", "model_version", "true_label", "label"))
    thresholds = _review_thresholds({row[3] for row in rows})
    skipped = set(skipped)
    ordered = sorted(
        (row for row in rows if include_reviewed or not row[4]),
        key=lambda row: (bool(row[4]), row[0] in skipped, review_uncertainty(row[1], row[2], thresholds[row[3]], row[5] == UNKNOWN),
                         row[0]),
    )
    return [row[0] for row in ordered]


def review_counts(*, skipped=(), user=None, **filters):
    """What the queue shows as left: {"left": unreviewed, "skipped": of those skipped, "reviewed": in the filter,
    "mine_today": reviewed by `user` today (all filters)}."""
    from django.utils import timezone

    candidates = review_candidates(**filters)
    unreviewed = set(candidates.filter(true_label="").values_list("pk", flat=True))
    mine = 0
    if user is not None:
        mine = Prediction.objects.filter(reviewed_by=user, reviewed_at__date=timezone.localdate()).count()
    return {
        "left": len(unreviewed - set(skipped)),
        "skipped": len(unreviewed & set(skipped)),
        "reviewed": candidates.exclude(true_label="").count(),
        "mine_today": mine,
    }


def review_model_versions():
    """The model versions finished predictions were made with, for the queue's filter."""
    return list(
        Prediction.objects.filter(status=Prediction.Status.DONE).exclude(model_version="")
        .order_by("model_version").values_list("model_version", flat=True).distinct()
    )


def label_history(prediction):
    """The photo's review history, oldest first, from the admin history the review services write:
    [{"when", "who", "what"}]."""
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Prediction), object_id=str(prediction.pk)
    ).select_related("user").order_by("action_time", "pk")
    return [{"when": entry.action_time, "who": entry.user.get_username() if entry.user else "", "what": entry.get_change_message()}
            for entry in entries]
