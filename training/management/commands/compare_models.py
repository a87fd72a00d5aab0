"""python manage.py compare_models VERSION [--against OTHER] [--json] [--data DIR] [--benchmark DIR]"""
import json

from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import pluralize

SIDE_KEYS = ("version", "accuracy", "recall", "precision", "ece", "pets_unknown_rate", "other_unknown_rate", "confusion_matrix", "matrix_columns")


def _pct(value):
    return "-" if value is None else f"{value:.2%}"


def _signed(value):
    return "-" if value is None else f"{value * 100:+.1f}"


class Command(BaseCommand):
    help = ("Evaluate model version VERSION and the live one (or --against OTHER) on the same photos: VERSION's dataset "
            "version's test split plus PETSITE_BENCHMARK_DIR; store the comparison and print it (--json: one object).")

    def add_arguments(self, parser):
        parser.add_argument("version", help="The candidate ModelVersion.")
        parser.add_argument("--against", default=None, help="The ModelVersion to compare with (default: the live model).")
        parser.add_argument("--data", default=None, help="Dataset folder to use instead of the candidate's dataset version.")
        parser.add_argument("--benchmark", default=None, help="Benchmark folder (<class>/*; default PETSITE_BENCHMARK_DIR).")
        parser.add_argument("--json", action="store_true", help="Print one JSON object: candidate, live, changed, rules.")

    def handle(self, *args, **options):
        from training.comparison import ComparisonError, compare_versions
        from training.models import ModelVersion

        candidate = ModelVersion.objects.filter(name=options["version"]).first()
        if candidate is None:
            raise CommandError(f"No model version named {options['version']!r}.")
        against = None
        if options["against"]:
            against = ModelVersion.objects.filter(name=options["against"]).first()
            if against is None:
                raise CommandError(f"No model version named {options['against']!r}.")
        try:
            comparison = compare_versions(candidate, against, data_dir=options["data"], benchmark_dir=options["benchmark"])
        except ComparisonError as exc:
            raise CommandError(str(exc)) from exc
        if comparison.error and comparison.live_name:
            raise CommandError(comparison.error)  # e.g. the classes differ: no scores, only the reason
        results = comparison.results
        if options["json"]:
            self.stdout.write(json.dumps(self.as_json(comparison), indent=2))
            return
        if not results:
            self.stdout.write(comparison.error)
            return
        self.print_report(comparison)

    @staticmethod
    def as_json(comparison):
        results = comparison.results or {}
        side = lambda name: {key: results[name].get(key) for key in SIDE_KEYS} if name in results else None  # noqa: E731
        return {
            "comparison_id": comparison.pk,
            "dataset_version": comparison.dataset_version.name if comparison.dataset_version else None,
            "data_dir": comparison.data_dir,
            "benchmark_dir": comparison.benchmark_dir,
            "images": results.get("images", 0),
            "classes": results.get("classes", []),
            "candidate": side("candidate"),
            "live": side("live"),
            "difference": results.get("difference"),
            "changed": [{key: row[key] for key in ("path", "true_label", "live", "candidate", "kind", "set")} for row in results.get("changed", [])],
            "rules": {"passed": comparison.rules_passed, "failures": comparison.rule_failures},
            "error": comparison.error or None,
        }

    def print_report(self, comparison):
        results = comparison.results
        candidate, live, difference = results["candidate"], results["live"], results["difference"]
        write = self.stdout.write
        write(f"{candidate['version']} (candidate) vs {live['version']} (live) on {results['images']} photos of {comparison.data_dir}"
              + (f" + {comparison.benchmark_dir}" if comparison.benchmark_dir else ""))
        write(f"{'':<22}{'live':>10}{'candidate':>11}{'diff':>8}")
        for label, key in (("accuracy", "accuracy"), ("ECE", "ece"), ('pets -> "not a pet"', "pets_unknown_rate"),
                           ('non-pets -> "not a pet"', "other_unknown_rate")):
            write(f"{label:<22}{_pct(live[key]):>10}{_pct(candidate[key]):>11}{_signed(difference[key]):>8}")
        write(f"{'class':<10}{'recall live':>12}{'cand.':>8}{'diff':>7}{'precision live':>16}{'cand.':>8}{'diff':>7}")
        for name in results["classes"]:
            write(f"{name:<10}{_pct(live['recall'][name]):>12}{_pct(candidate['recall'][name]):>8}{_signed(difference['recall'][name]):>7}"
                  f"{_pct(live['precision'][name]):>16}{_pct(candidate['precision'][name]):>8}{_signed(difference['precision'][name]):>7}")
        changed = results["changed"]
        write(f"{len(changed)} photo{pluralize(len(changed))} changed answer (worst regressions first):")
        for row in changed[:20]:
            write(f"  {row['kind']:<10} true {row['true_label']:<8} live {row['live']:<8} candidate {row['candidate']:<8} {row['path']}")
        verdict = "pass" if comparison.rules_passed else "fail: " + "; ".join(comparison.rule_failures)
        write(f"promotion rules: {verdict}  (comparison #{comparison.pk})")
