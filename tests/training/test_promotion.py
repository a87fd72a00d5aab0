"""Comparison and promotion on colour-reading tiny models (no training): compare_models --json, promotion rules
(promotes, holds as a candidate with exit 3, promote anyway / --force), models whose classes differ, the admin's
side-by-side page and its staff-only photo view."""
import io
import json

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from PIL import Image

from ingestion.models import DatasetVersion
from ingestion.selectors import version_folder
from training.layers import load_model
from training.models import ModelComparison, ModelVersion
from training.registry import activate

pytestmark = pytest.mark.django_db(transaction=True)

CLASSES = ["bird", "cat", "dog", "dragon", "fish", "hamster"]
COLOURS = {"cat": (200, 30, 30), "dog": (30, 200, 30), "fish": (30, 30, 200)}


def noisy(colour, seed, size=40):
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.asarray(colour) + rng.integers(-25, 25, (size, size, 3)), 0, 255).astype("uint8")
    return Image.fromarray(pixels)


@pytest.fixture
def colours_version(settings, tmp_path):
    """A built dataset version of noisy red (cat), green (dog) and blue (fish) squares."""
    settings.PETSITE_DATASETS_ROOT = tmp_path / "datasets"
    settings.PETSITE_TRAINING_OTHER_DIRS = []
    settings.PETSITE_BENCHMARK_DIR = ""
    folder = version_folder("colours")
    for n, (label, colour) in enumerate(COLOURS.items()):
        for split, count in (("train", 3), ("test", 2)):
            (folder / split / label).mkdir(parents=True)
            for i in range(count):
                noisy(colour, 100 * n + 10 * (split == "test") + i).save(folder / split / label / f"{label}_{i}.png")
    (folder / "manifest.json").write_text(json.dumps({"files": [], "digest": "colours"}))
    return DatasetVersion.objects.create(name="colours", status="built", building=None, photo_count=15)


def colour_model(path, blue_is="fish"):
    """The tiny colour model (red cat, green dog, blue fish), or one that calls blue `blue_is`."""
    from tests.tiny_model import build_tiny_model

    build_tiny_model(path)
    if blue_is != "fish":
        model = load_model(path)
        kernel, bias = model.get_layer("probabilities").get_weights()
        kernel[2] = 0.0
        kernel[2, CLASSES.index(blue_is)] = 12.0
        model.get_layer("probabilities").set_weights([kernel, bias])
        model.save(path)
    return path


@pytest.fixture
def models(tmp_path, colours_version):
    """good (every colour right) and worse (blue photos called dog), both trained 'on' the colours version."""
    def version(name, blue_is, classes=CLASSES):
        path = colour_model(tmp_path / name / "model.keras", blue_is)
        return ModelVersion.objects.create(name=name, architecture="tiny", classes=classes, input_size=32, file_path=str(path),
                                           dataset_version=colours_version)

    return {"good": version("good", "fish"), "worse": version("worse", "dog"), "make": version}


def compare_json(*args):
    out = io.StringIO()
    call_command("compare_models", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_compare_models_json_has_both_sides_and_the_changed_photos_worst_first(models, colours_version):
    activate(models["good"])
    report = compare_json("worse")  # against the live version by default
    assert report["candidate"]["version"] == "worse" and report["live"]["version"] == "good"
    assert report["live"]["accuracy"] == 1.0 and report["candidate"]["accuracy"] == pytest.approx(4 / 6)
    assert report["candidate"]["recall"]["fish"] == 0.0 and report["live"]["recall"]["fish"] == 1.0
    assert report["candidate"]["recall"]["cat"] == 1.0 and report["candidate"]["recall"]["bird"] is None
    assert report["dataset_version"] == "colours" and report["images"] == 6
    assert report["rules"]["passed"] is False
    folder = version_folder("colours").resolve()
    assert len(report["changed"]) == 2
    for row in report["changed"]:
        assert {"path", "true_label", "live", "candidate"} <= set(row)
        assert (row["true_label"], row["live"], row["candidate"], row["kind"]) == ("fish", "fish", "dog", "regression")
        assert str(folder) in row["path"] and "/test/fish/" in row["path"]
    # the reverse comparison (--against): the same photos are fixes, listed after any regression
    reverse = compare_json("good", "--against", "worse")
    assert reverse["live"]["version"] == "worse" and [r["kind"] for r in reverse["changed"]] == ["fix", "fix"]
    assert reverse["rules"]["passed"] is True
    assert ModelComparison.objects.count() == 2

    text = io.StringIO()
    call_command("compare_models", "worse", stdout=text)
    assert "regression" in text.getvalue() and "fish" in text.getvalue() and "promotion rules: fail" in text.getvalue()


def test_changed_photos_sort_regressions_before_fixes(tmp_path, colours_version, models):
    from training.comparison import compare_versions

    # a third model: blue right but red called dog; against "worse" (blue wrong) it fixes fish and breaks cat
    models["make"]("mixed", "fish")
    mixed = ModelVersion.objects.get(name="mixed")
    model = load_model(mixed.resolved_path)
    kernel, bias = model.get_layer("probabilities").get_weights()
    kernel[0] = 0.0
    kernel[0, CLASSES.index("dog")] = 12.0
    model.get_layer("probabilities").set_weights([kernel, bias])
    model.save(mixed.resolved_path)
    comparison = compare_versions(mixed, models["worse"])
    kinds = [row["kind"] for row in comparison.results["changed"]]
    assert kinds == ["regression", "regression", "fix", "fix"]
    assert comparison.results["difference"]["recall"]["cat"] == -1.0 and comparison.results["difference"]["recall"]["fish"] == 1.0


def test_promote_holds_a_worse_candidate_with_exit_3_then_force_promotes_it(models):
    activate(models["good"])
    out = io.StringIO()
    with pytest.raises(CommandError) as held:
        call_command("promote", "worse", stdout=out)
    assert held.value.returncode == 3
    assert "held back" in out.getvalue() and "fish recall" in out.getvalue() and "accuracy" in out.getvalue()
    models["good"].refresh_from_db()
    assert models["good"].is_active
    comparison = ModelComparison.objects.get(candidate=models["worse"])
    assert comparison.decision == "held" and not comparison.rules_passed

    from training.promotion import is_candidate

    assert is_candidate(models["worse"])
    call_command("promote", "worse", "--force", "--reason", "the blue photos were mislabelled", stdout=io.StringIO())
    models["worse"].refresh_from_db()
    assert models["worse"].is_active
    forced = ModelComparison.objects.filter(candidate=models["worse"]).latest("id")
    assert forced.decision == "forced" and forced.reason == "the blue photos were mislabelled"


def test_promote_promotes_a_candidate_that_passes_the_rules(models):
    activate(models["worse"])
    out = io.StringIO()
    call_command("promote", "good", stdout=out)  # exit 0
    models["good"].refresh_from_db()
    assert models["good"].is_active and "now the live model" in out.getvalue()
    assert ModelComparison.objects.get(candidate=models["good"]).decision == "promoted"
    # rolling back stays one step
    from training.registry import roll_back

    assert roll_back().name == "worse"


def test_recall_rule_allows_one_point_and_settings_change_the_rules(models, settings):
    from training.promotion import check_rules

    comparison = ModelComparison(candidate=models["good"], live_name="x", results={
        "candidate": {"accuracy": 0.9, "recall": {"cat": 0.895, "dog": 1.0}, "pets_unknown_rate": 0.01},
        "live": {"accuracy": 0.9, "recall": {"cat": 0.9, "dog": 1.0}, "pets_unknown_rate": 0.01},
    })
    assert check_rules(comparison) == (True, [])
    comparison.results["candidate"]["recall"]["cat"] = 0.88
    passed, failures = check_rules(comparison)
    assert not passed and "cat recall" in failures[0]
    settings.PETSITE_PROMOTION_MAX_RECALL_DROP = 0.05
    assert check_rules(comparison)[0]
    comparison.results["candidate"]["pets_unknown_rate"] = 0.02
    passed, failures = check_rules(comparison)
    assert not passed and "not a pet" in failures[0]


def test_models_whose_classes_differ_are_not_scored_against_each_other(models):
    activate(models["good"])
    five = models["make"]("five-classes", "fish", classes=CLASSES[:5])
    with pytest.raises(CommandError, match="classes differ"):
        compare_json("five-classes")
    comparison = ModelComparison.objects.get(candidate=five)
    assert comparison.results == {} and "classes differ" in comparison.error and not comparison.rules_passed
    with pytest.raises(CommandError) as held:
        call_command("promote", "five-classes", stdout=io.StringIO())
    assert held.value.returncode == 3
    models["good"].refresh_from_db()
    assert models["good"].is_active


def test_benchmark_photos_join_the_test_split(models, settings, tmp_path):
    bench = tmp_path / "benchmark"
    (bench / "fish").mkdir(parents=True)
    noisy(COLOURS["fish"], 999).save(bench / "fish" / "extra.png")
    settings.PETSITE_BENCHMARK_DIR = str(bench)
    activate(models["good"])
    report = compare_json("worse")
    assert report["images"] == 7 and len(report["changed"]) == 3
    assert any(row["set"] == "benchmark" for row in report["changed"])


def test_a_not_a_pet_answer_counts_as_wrong_everywhere_on_the_comparison(client, staff, models, tmp_path, colours_version):
    """One definition of the answer on the comparison: the site's (with "not a pet" under each model's own threshold).
    "shy" still ranks fish first on blue photos but under its threshold, so the site says "not a pet": wrong in its
    accuracy and fish recall, counted in the confusion matrix's "Not a pet" column, as the changed photos say."""
    from training.comparison import compare_versions

    path = colour_model(tmp_path / "shy" / "model.keras")
    model = load_model(path)
    kernel, bias = model.get_layer("probabilities").get_weights()
    kernel[2] = 0.0
    kernel[2, CLASSES.index("fish")] = 3.0  # blue: fish on top, at about 0.5
    model.get_layer("probabilities").set_weights([kernel, bias])
    model.save(path)
    shy = ModelVersion.objects.create(name="shy", architecture="tiny", classes=CLASSES, input_size=32, file_path=str(path),
                                      dataset_version=colours_version, unknown_threshold=0.7)
    ModelVersion.objects.filter(pk=models["good"].pk).update(unknown_threshold=0.7)
    good = ModelVersion.objects.get(pk=models["good"].pk)
    comparison = compare_versions(shy, against=good)
    candidate, live = comparison.results["candidate"], comparison.results["live"]
    assert live["accuracy"] == 1.0 and candidate["accuracy"] == pytest.approx(4 / 6)
    assert candidate["recall"]["fish"] == 0.0 and candidate["recall"]["cat"] == 1.0 and live["recall"]["fish"] == 1.0
    fish = CLASSES.index("fish")
    assert len(candidate["confusion_matrix"][fish]) == len(CLASSES) + 1
    assert candidate["confusion_matrix"][fish][-1] == 2 and candidate["confusion_matrix"][fish][fish] == 0
    assert live["confusion_matrix"][fish][fish] == 2 and live["confusion_matrix"][fish][-1] == 0
    assert candidate["pets_unknown_rate"] == pytest.approx(2 / 6)
    assert comparison.results["sets"]["test"]["candidate_accuracy"] == pytest.approx(4 / 6)
    assert [(row["live"], row["candidate"], row["kind"]) for row in comparison.results["changed"]] == [("fish", "unknown", "regression")] * 2
    assert not comparison.rules_passed and any("accuracy" in failure for failure in comparison.rule_failures)

    page = client.get(f"/admin/training/modelcomparison/{comparison.pk}/change/").content.decode()
    assert page.count("<th>Not a pet</th>") == 2  # a column in both confusion matrices
    assert "candidate: Not a pet" in page


def test_admin_shows_the_comparison_side_by_side_and_promote_anyway_records_who_and_why(client, staff, models):
    from training.promotion import promote

    activate(models["good"])
    result = promote(models["worse"])
    assert not result.promoted
    comparison = result.comparison
    page = client.get(f"/admin/training/modelcomparison/{comparison.pk}/change/").content.decode()
    assert "recall candidate" in page and "true \\ predicted" in page and "regression" in page
    photo_url = f"/admin/training/modelcomparison/{comparison.pk}/photo/0/"
    assert photo_url in page and "Promote anyway" in page
    version_page = client.get(f"/admin/training/modelversion/{models['worse'].pk}/change/").content.decode()
    assert "Promote anyway" in version_page and "fish recall" in version_page
    # the raw card (params, metrics: thousands of numbers) is folded away below the tables and pictures
    raw = version_page.index("Raw card: photo counts, parameters and every metric (JSON)")
    assert version_page.rfind("<details", 0, raw) > version_page.index("Test results") and version_page.index('class="form-row field-metrics"') > raw
    assert "candidate (held back)" in client.get("/admin/training/modelversion/").content.decode()

    photo = client.get(photo_url)
    assert photo.status_code == 200 and photo["Content-Type"] == "image/png"
    assert b"".join(photo.streaming_content).startswith(b"\x89PNG")
    assert client.get(f"/admin/training/modelcomparison/{comparison.pk}/photo/99/").status_code == 404

    url = f"/admin/training/modelcomparison/{comparison.pk}/promote/"
    form = client.get(url).content.decode()
    assert 'value="Promote anyway"' in form and "Compare again" not in form  # current, and failed: nothing to redo
    assert client.post(url, {"reason": ""}).status_code == 200  # a reason is required
    models["worse"].refresh_from_db()
    assert not models["worse"].is_active
    client.post(url, {"reason": "blue photos were mislabelled"})
    comparison.refresh_from_db()
    models["worse"].refresh_from_db()
    assert models["worse"].is_active
    assert (comparison.decision, comparison.decided_by, comparison.reason) == ("forced", staff, "blue photos were mislabelled")


def test_a_comparison_that_passed_the_rules_offers_promote_without_demanding_a_reason(client, staff, models):
    from training.comparison import compare_versions

    activate(models["worse"])
    comparison = compare_versions(models["good"])
    assert comparison.rules_passed
    page = client.get(f"/admin/training/modelcomparison/{comparison.pk}/change/").content.decode()
    assert ">Promote…</a>" in page and "Promote anyway" not in page
    version_page = client.get(f"/admin/training/modelversion/{models['good'].pk}/change/").content.decode()
    assert ">Promote…</a>" in version_page and "Promote anyway" not in version_page
    url = reverse("admin:training_modelcomparison_promote", args=[comparison.pk])
    form = client.get(url).content.decode()
    assert 'value="Promote"' in form and "although it" not in form and "Compare again" not in form
    client.post(url, {"reason": ""})
    comparison.refresh_from_db()
    models["good"].refresh_from_db()
    assert models["good"].is_active and (comparison.decision, comparison.decided_by) == ("promoted", staff)


def test_the_note_given_with_promote_is_recorded_and_shown(client, staff, models):
    from training.comparison import compare_versions

    activate(models["worse"])
    comparison = compare_versions(models["good"])
    url = reverse("admin:training_modelcomparison_promote", args=[comparison.pk])
    response = client.post(url, {"reason": "  checked the fish photos by eye  "}, follow=True)
    comparison.refresh_from_db()
    assert (comparison.decision, comparison.decided_by, comparison.reason) == ("promoted", staff, "checked the fish photos by eye")
    assert "passed the promotion rules and is now the live model" in response.content.decode()
    page = client.get(f"/admin/training/modelcomparison/{comparison.pk}/change/").content.decode()
    assert "checked the fish photos by eye" in page


def test_a_passing_comparison_against_a_model_no_longer_live_needs_a_reason_and_is_recorded_as_forced(client, staff, models,
                                                                                                       monkeypatch):
    """An old "passed" comparison says nothing about the model serving now: promoting from it overrules the rules."""
    from training import tasks
    from training.comparison import compare_versions

    activate(models["worse"])
    old = compare_versions(models["good"])  # good passes against worse...
    assert old.rules_passed
    activate(models["make"]("other", "fish"))  # ...but "other" serves now
    page = client.get(f"/admin/training/modelcomparison/{old.pk}/change/").content.decode()
    assert ">Promote…</a>" not in page
    assert "the live model is now other" in page and "Compare again or promote anyway…" in page
    version_page = client.get(f"/admin/training/modelversion/{models['good'].pk}/change/").content.decode()
    assert ">Promote…</a>" not in version_page and ">Promote anyway…</a>" in version_page

    url = reverse("admin:training_modelcomparison_promote", args=[old.pk])
    form = client.get(url).content.decode()
    assert 'value="Promote anyway"' in form and 'value="Compare again"' in form
    assert client.post(url, {"reason": ""}).status_code == 200  # a reason is required
    models["good"].refresh_from_db()
    old.refresh_from_db()
    assert not models["good"].is_active and old.decision == ""

    # Compare again: a background job (compare with the live model, promote by the rules), not this request
    dispatched = []
    monkeypatch.setattr("petsite.jobs.dispatch_on_commit", lambda task, *args: dispatched.append((task, args)))
    response = client.post(reverse("admin:training_modelcomparison_compare_again", args=[old.pk]), follow=True)
    assert "in the background" in response.content.decode()
    assert dispatched == [(tasks.promote_version, (models["good"].pk, staff.pk))]

    response = client.post(url, {"reason": "the fish photos were relabelled since"}, follow=True)
    old.refresh_from_db()
    models["good"].refresh_from_db()
    assert models["good"].is_active
    assert (old.decision, old.decided_by, old.reason) == ("forced", staff, "the fish photos were relabelled since")
    assert "promoted anyway" in response.content.decode()


def test_the_promote_page_keeps_its_first_address(client, staff, models):
    from training.comparison import compare_versions

    activate(models["good"])
    comparison = compare_versions(models["worse"])
    assert client.get(f"/admin/training/modelcomparison/{comparison.pk}/promote-anyway/").status_code == 200
    client.post(f"/admin/training/modelcomparison/{comparison.pk}/promote-anyway/", {"reason": "by the old address"})
    comparison.refresh_from_db()
    assert (comparison.decision, comparison.reason) == ("forced", "by the old address")


def test_promote_from_a_comparison_that_is_not_current_holds_unless_forced(models):
    from training.comparison import compare_versions
    from training.promotion import is_current_comparison, promote

    activate(models["worse"])
    old = compare_versions(models["good"])
    assert is_current_comparison(old)
    activate(models["make"]("other", "fish"))
    assert not is_current_comparison(old)
    result = promote(models["good"], comparison=old, current=False)
    assert not result.promoted and old.decision == "held"
    result = promote(models["good"], comparison=old, current=False, force=True, reason="why")
    assert result.promoted and (old.decision, old.reason) == ("forced", "why") and "promoted anyway" in result.message


def test_the_photo_view_serves_only_files_inside_the_comparisons_folders(client, staff, models, settings, django_user_model):
    activate(models["good"])
    from training.comparison import compare_versions

    comparison = compare_versions(models["worse"])
    url = f"/admin/training/modelcomparison/{comparison.pk}/photo/0/"
    assert client.get(url).status_code == 200
    outside = settings.BASE_DIR / "manage.py"
    comparison.results["changed"][0]["path"] = str(outside)
    comparison.results["changed"][1]["path"] = str(version_folder("colours") / ".." / ".." / "escape.png")
    comparison.save()
    assert client.get(url).status_code == 404
    assert client.get(f"/admin/training/modelcomparison/{comparison.pk}/photo/1/").status_code == 404
    client.logout()
    assert client.get(f"/admin/training/modelcomparison/{comparison.pk}/photo/0/").status_code == 302  # to the login page
    visitor = django_user_model.objects.create_user("visitor", password="pw-12345678")
    client.force_login(visitor)
    assert client.get(f"/admin/training/modelcomparison/{comparison.pk}/photo/0/").status_code in (302, 403, 404)


def test_a_dataset_version_a_model_was_trained_on_is_not_deleted(models, colours_version):
    from ingestion.services import BuildRefused, delete_dataset_version

    with pytest.raises(BuildRefused, match="trained on it"):
        delete_dataset_version(colours_version)


def test_retrain_schedule_is_off_by_default_and_reads_a_crontab():
    from petsite.celery import app, retrain_schedule

    assert retrain_schedule("") is None
    assert "scheduled-retrain" not in (app.conf.beat_schedule or {})
    schedule = retrain_schedule("30 3 * * 1")
    assert schedule.hour == {3} and schedule.minute == {30} and schedule.day_of_week == {1}
    with pytest.raises(ValueError):
        retrain_schedule("3 * *")


def _promote_action(client, version):
    return client.post("/admin/training/modelversion/", {"action": "promote_selected", "_selected_action": [version.pk]}, follow=True)


def test_the_promote_action_compares_in_a_background_job_not_in_the_request(client, staff, models, monkeypatch):
    from training import tasks

    activate(models["worse"])
    dispatched = []
    monkeypatch.setattr("petsite.jobs.dispatch_on_commit", lambda task, *args: dispatched.append((task, args)))
    page = _promote_action(client, models["good"]).content.decode()
    assert "in the background" in page and "comparison with the live model" in page
    assert not ModelComparison.objects.exists()  # nothing compared inside the request
    models["good"].refresh_from_db()
    assert not models["good"].is_active
    [(task, args)] = dispatched
    assert task is tasks.promote_version
    assert task.apply(args=args).get() is True  # the job compares and promotes by the rules
    models["good"].refresh_from_db()
    comparison = ModelComparison.objects.get(candidate=models["good"])
    assert models["good"].is_active and (comparison.decision, comparison.decided_by) == ("promoted", staff)


def test_the_promote_action_promotes_from_a_fresh_comparison_at_once_and_recompares_a_stale_one(client, staff, models, monkeypatch):
    from training.comparison import compare_versions

    activate(models["good"])
    stale = compare_versions(models["worse"])  # against good
    activate(models["worse"])
    fresh = compare_versions(models["good"])  # against worse, the live one
    activate(models["good"])
    dispatched = []
    monkeypatch.setattr("petsite.jobs.dispatch_on_commit", lambda task, *args: dispatched.append((task, args)))
    monkeypatch.setattr("training.comparison.compare_versions", lambda *a, **k: pytest.fail("compared inside the request"))
    activate(models["worse"])
    page = _promote_action(client, models["good"]).content.decode()
    models["good"].refresh_from_db()
    fresh.refresh_from_db()
    assert models["good"].is_active and fresh.decision == "promoted" and not dispatched
    assert f"comparison #{fresh.pk}" in page
    # worse's only comparison was against good, which is live again: still fresh; now against another live model it is not
    other = models["make"]("other", "fish")
    activate(other)
    _promote_action(client, models["worse"])
    stale.refresh_from_db()
    assert len(dispatched) == 1 and stale.decision == ""


def test_the_promote_job_records_why_a_comparison_could_not_run(models, colours_version):
    from training import tasks

    activate(models["good"])
    lost = models["make"]("lost", "dog")
    lost.dataset_version = None
    lost.save()
    assert tasks.promote_version.apply(args=(lost.pk,)).get() is None
    comparison = ModelComparison.objects.get(candidate=lost)
    assert comparison.decision == "held" and "records no dataset version" in comparison.error


def test_a_failed_comparison_says_it_failed_not_that_it_is_out_of_date(client, staff, models):
    from training.promotion import fresh_comparison

    activate(models["good"])
    failed = ModelComparison.objects.create(candidate=models["worse"], live_name="good", live_id=models["good"].pk,
                                            error="The model file of worse is missing.", rule_failures=["missing"])
    assert fresh_comparison(models["worse"]) is None
    for url in (f"/admin/training/modelcomparison/{failed.pk}/change/",
                reverse("admin:training_modelcomparison_promote", args=[failed.pk])):
        page = client.get(url).content.decode()
        assert "This comparison failed: The model file of worse is missing. Compare again" in page, url
        assert "not the candidate&#x27;s current comparison" not in page and "a newer one exists" not in page
    assert 'value="Compare again"' in client.get(reverse("admin:training_modelcomparison_promote", args=[failed.pk])).content.decode()


def test_a_comparison_stored_before_the_metric_change_is_out_of_date(client, staff, models):
    """Before the metrics counted the site's answer, results had no matrix_columns (6-column matrices, top-class
    accuracy): such a comparison does not count for "Promote…"; Compare again is offered."""
    from training.comparison import compare_versions
    from training.promotion import fresh_comparison, is_current_comparison

    activate(models["worse"])
    comparison = compare_versions(models["good"])
    assert comparison.rules_passed and is_current_comparison(comparison)
    for side in ("candidate", "live"):
        comparison.results[side].pop("matrix_columns")
        comparison.results[side]["confusion_matrix"] = [row[:6] for row in comparison.results[side]["confusion_matrix"]]
    comparison.save()
    assert fresh_comparison(models["good"]) is None and not is_current_comparison(comparison)
    page = client.get(f"/admin/training/modelcomparison/{comparison.pk}/change/").content.decode()
    assert ">Promote…</a>" not in page and "before the metrics counted" in page and "Compare again or promote anyway…" in page
    form = client.get(reverse("admin:training_modelcomparison_promote", args=[comparison.pk])).content.decode()
    assert 'value="Compare again"' in form and 'value="Promote anyway"' in form


def test_compare_again_queues_one_job_per_candidate_until_it_has_run(client, staff, models, monkeypatch):
    from training import tasks
    from training.comparison import compare_versions

    activate(models["good"])
    old = compare_versions(models["worse"])
    activate(models["make"]("other", "fish"))
    dispatched = []
    monkeypatch.setattr("petsite.jobs.dispatch_on_commit", lambda task, *args: dispatched.append((task, args)))
    url = reverse("admin:training_modelcomparison_compare_again", args=[old.pk])
    assert "in the background" in client.post(url, follow=True).content.decode()
    page = client.post(url, follow=True).content.decode()  # clicked again while the job waits or runs
    assert "already being compared" in page and len(dispatched) == 1
    [(task, args)] = dispatched
    assert task is tasks.promote_version
    task.apply(args=args).get()  # the job ran: a new click queues a new one
    assert ModelComparison.objects.filter(candidate=models["worse"]).count() == 2
    assert "in the background" in client.post(url, follow=True).content.decode() and len(dispatched) == 2


def test_the_rules_in_words_say_must_not_for_a_zero_limit_and_points_otherwise(settings):
    from training.promotion import rules_text

    settings.PETSITE_PROMOTION_MAX_ACCURACY_DROP, settings.PETSITE_PROMOTION_MAX_RECALL_DROP = 0.0, 0.01
    settings.PETSITE_PROMOTION_MAX_PET_UNKNOWN_RISE = 0.0
    assert rules_text() == ["accuracy must not fall", "each class's recall may fall by at most 1.0 points",
                            'the share of pets answered "not a pet" must not rise']
