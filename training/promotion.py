"""Promotion: a candidate becomes the live model only when it is at least as good as the live one on the rules.

The rules (settings, staff may change them):
  PETSITE_PROMOTION_MAX_ACCURACY_DROP     accuracy may fall by at most this much (default 0: not lower);
  PETSITE_PROMOTION_MAX_RECALL_DROP       no class's recall may fall by more than this (default 0.01: 1 point);
  PETSITE_PROMOTION_MAX_PET_UNKNOWN_RISE  pets answered "not a pet" may rise by at most this much (default 0).

promote() compares (training.comparison) unless given a comparison, then activates when the rules pass, or when
forced ("promote anyway": who and why are recorded); otherwise the version waits as a candidate. Workers load the
new version on their next task (training.registry.activate).

The admin's promote action runs promote_in_background() as a job (training.tasks.promote_version): a comparison runs
two models over the test split, far too long for a web request; a fresh_comparison() is promoted from at once.
"""
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from training.registry import activate

EPSILON = 1e-9  # metrics are ratios of counts: only differences above rounding noise count


def rules():
    return {
        "max_accuracy_drop": float(settings.PETSITE_PROMOTION_MAX_ACCURACY_DROP),
        "max_recall_drop": float(settings.PETSITE_PROMOTION_MAX_RECALL_DROP),
        "max_pet_unknown_rise": float(settings.PETSITE_PROMOTION_MAX_PET_UNKNOWN_RISE),
    }


def rules_text():
    """The promotion rules in words, one phrase each (the retrain page says what a new model must pass)."""
    limits = rules()

    def at_most(points, verb):
        return f"must not {verb}" if points <= EPSILON else f"may {verb} by at most {points * 100:.1f} points"

    return [f"accuracy {at_most(limits['max_accuracy_drop'], 'fall')}",
            f"each class's recall {at_most(limits['max_recall_drop'], 'fall')}",
            f'the share of pets answered "not a pet" {at_most(limits["max_pet_unknown_rise"], "rise")}']


def check_rules(comparison):
    """(passed, [why not]) for a ModelComparison (its results, or its error)."""
    if comparison.error:
        if not comparison.live_name:  # nothing serves yet
            return True, []
        return False, [comparison.error]
    limits = rules()
    results = comparison.results
    candidate, live = results["candidate"], results["live"]
    failures = []
    if candidate["accuracy"] < live["accuracy"] - limits["max_accuracy_drop"] - EPSILON:
        failures.append(f"accuracy {candidate['accuracy']:.2%} is lower than the live model's {live['accuracy']:.2%}")
    for name, new in candidate["recall"].items():
        old = live["recall"].get(name)
        if new is not None and old is not None and new < old - limits["max_recall_drop"] - EPSILON:
            failures.append(f"{name} recall {new:.2%} is more than {limits['max_recall_drop']:.0%} below the live model's {old:.2%}")
    if candidate["pets_unknown_rate"] > live["pets_unknown_rate"] + limits["max_pet_unknown_rise"] + EPSILON:
        failures.append(f'pets answered "not a pet" {candidate["pets_unknown_rate"]:.2%} is higher than the live model\'s '
                        f'{live["pets_unknown_rate"]:.2%}')
    return not failures, failures


@dataclass
class Promotion:
    promoted: bool
    comparison: object
    reasons: list = field(default_factory=list)

    @property
    def message(self):
        version = self.comparison.candidate.name
        if self.promoted:
            how = "promoted anyway" if self.comparison.decision == "forced" else "passed the promotion rules"
            return f"{version} {how} and is now the live model; workers load it on their next task."
        return f"{version} held back as a candidate: " + "; ".join(self.reasons) + "."


def _decide(comparison, decision, user=None, reason=""):
    from training.models import ModelComparison

    ModelComparison.objects.filter(pk=comparison.pk).update(
        decision=decision, decided_by=user if user is not None and user.is_authenticated else None,
        decided_at=timezone.now(), reason=reason,
    )
    comparison.refresh_from_db()


def promote(candidate, user=None, force=False, reason="", comparison=None, current=True):
    """Make `candidate` live if it passes the rules against the live model (or `force`, recording who and why).

    `comparison`: promote from this one instead of comparing; `current=False` says it no longer stands for the model
    serving now (is_current_comparison): its verdict then does not count, so only `force` promotes (recorded as forced,
    with `reason`). A `reason` given with a passing comparison is recorded as a note.

    Returns a Promotion; raises training.comparison.ComparisonError when there is nothing to compare on and not
    forced, and NoModelAvailable when its file is gone.
    """
    from training.comparison import ComparisonError, compare_versions
    from training.models import ModelComparison

    if comparison is None:
        try:
            comparison = compare_versions(candidate)
        except ComparisonError as exc:
            if not force:
                raise
            comparison = ModelComparison.objects.create(candidate=candidate, error=str(exc), rule_failures=[str(exc)])
    passed = comparison.rules_passed and current
    if not passed and not force:
        _decide(comparison, ModelComparison.Decision.HELD)
        return Promotion(False, comparison, list(comparison.rule_failures))
    activate(candidate)
    if passed:
        _decide(comparison, ModelComparison.Decision.PROMOTED, user, reason.strip())
    else:
        _decide(comparison, ModelComparison.Decision.FORCED, user, reason.strip() or "forced without a reason")
    return Promotion(True, comparison, list(comparison.rule_failures))


def latest_comparison(version):
    return version.comparisons.order_by("-created_at", "-id").first()


def is_candidate(version):
    """True for an inactive version whose latest comparison held it back."""
    comparison = latest_comparison(version)
    return not version.is_active and comparison is not None and comparison.decision == "held"


def failed_comparison(comparison):
    """Whether `comparison` could not be made (it records an error, or no results)."""
    return bool(comparison.error) or not comparison.results


def outdated_metrics(comparison):
    """Whether `comparison` was stored before the metrics counted the site's answer ("not a pet" under each model's
    threshold, a matrix column of its own): its results have no `matrix_columns`, its figures are not what a new
    comparison would say."""
    if failed_comparison(comparison):
        return False
    return any("matrix_columns" not in (comparison.results.get(side) or {}) for side in ("candidate", "live"))


def fresh_comparison(candidate):
    """The latest comparison of `candidate`, if it still says what a new one would: made against the model serving
    now, on the candidate's dataset folder and the current benchmark folder, with today's metrics, without an error.
    None otherwise."""
    from training.comparison import ComparisonError, candidate_data_dir, live_model
    from training.registry import NoModelAvailable

    comparison = latest_comparison(candidate)
    if comparison is None or failed_comparison(comparison) or outdated_metrics(comparison):
        return None
    try:
        live_version, live_spec = live_model()
        _, data_dir = candidate_data_dir(candidate)
    except (ComparisonError, NoModelAvailable):
        return None
    same_live = comparison.live_name == live_spec.version and comparison.live_id == (live_version.pk if live_version else None)
    same_photos = comparison.data_dir == str(data_dir) and comparison.benchmark_dir == str(settings.PETSITE_BENCHMARK_DIR or "")
    return comparison if same_live and same_photos else None


def is_current_comparison(comparison):
    """Whether `comparison` is its candidate's fresh_comparison(): the latest one, made against the model serving now
    on the photos a new comparison would use. Only then does its verdict on the rules still hold."""
    fresh = fresh_comparison(comparison.candidate)
    return fresh is not None and fresh.pk == comparison.pk


BACKGROUND_PROMOTION_TIMEOUT = 3600  # a compare-and-promote job whose worker died stops counting after an hour


def _background_key(version_id):
    return f"training:promote-job:{version_id}"


def dispatch_background_promotion(version, user=None):
    """Queue promote_in_background for `version` (training.tasks.promote_version) once the transaction commits, unless
    one for it is already queued or running. Returns False (nothing queued) in that case."""
    from django.core.cache import cache

    from petsite import jobs
    from training import tasks

    if not cache.add(_background_key(version.pk), True, BACKGROUND_PROMOTION_TIMEOUT):
        return False
    jobs.dispatch_on_commit(tasks.promote_version, version.pk, user.pk if user is not None else None)
    return True


def promote_in_background(version_id, user_id=None):
    """The job behind the admin's promote action: compare ModelVersion `version_id` with the live model and promote it
    by the rules. When the comparison cannot run, a comparison recording why is stored (held back), so the version's
    page says so. Returns the Promotion, or None when the version or its comparison is gone."""
    from django.contrib.auth import get_user_model

    from training.comparison import ComparisonError
    from training.models import ModelComparison, ModelVersion
    from training.registry import NoModelAvailable

    from django.core.cache import cache

    try:
        candidate = ModelVersion.objects.filter(pk=version_id).first()
        if candidate is None or candidate.is_active:
            return None
        user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
        try:
            return promote(candidate, user=user)
        except (ComparisonError, NoModelAvailable) as exc:
            ModelComparison.objects.create(candidate=candidate, error=str(exc), rule_failures=[str(exc)],
                                           decision=ModelComparison.Decision.HELD, decided_at=timezone.now())
            return None
    finally:
        cache.delete(_background_key(version_id))  # the next Compare again may queue one
