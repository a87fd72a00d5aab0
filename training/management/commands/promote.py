"""python manage.py promote VERSION [--force] [--reason TEXT]: exit 0 when promoted, 3 when held back."""
from django.core.management.base import BaseCommand, CommandError

HELD_BACK = 3


class Command(BaseCommand):
    help = ("Compare model version VERSION with the live model and make it live if it passes the promotion rules "
            "(PETSITE_PROMOTION_*); exit 0 when promoted, 3 when held back as a candidate. --force promotes anyway.")

    def add_arguments(self, parser):
        parser.add_argument("version")
        parser.add_argument("--force", action="store_true", help="Promote even when the rules fail (recorded with --reason).")
        parser.add_argument("--reason", default="", help="Why it is promoted anyway (recorded on the comparison).")

    def handle(self, *args, **options):
        from training.comparison import ComparisonError
        from training.models import ModelVersion
        from training.promotion import promote
        from training.registry import NoModelAvailable

        version = ModelVersion.objects.filter(name=options["version"]).first()
        if version is None:
            raise CommandError(f"No model version named {options['version']!r}.")
        if version.is_active:
            self.stdout.write(f"{version.name} is already the live model.")
            return
        reason = options["reason"] or ("manage.py promote --force" if options["force"] else "")
        try:
            result = promote(version, force=options["force"], reason=reason)
        except (ComparisonError, NoModelAvailable) as exc:
            raise CommandError(str(exc)) from exc
        if not result.promoted:
            self.stdout.write(result.message)
            raise CommandError(result.message, returncode=HELD_BACK)
        if result.reasons:
            self.stdout.write("rules failed: " + "; ".join(result.reasons))
        self.stdout.write(self.style.SUCCESS(result.message))
