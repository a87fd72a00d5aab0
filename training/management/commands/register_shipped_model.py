from django.core.management.base import BaseCommand, CommandError

from training.registry import NoModelAvailable, register_shipped_model


class Command(BaseCommand):
    help = "Register the shipped default model as a ModelVersion (active if no other version is)."

    def handle(self, *args, **options):
        try:
            version, created = register_shipped_model()
        except NoModelAvailable as exc:
            raise CommandError(str(exc)) from exc
        state = "registered" if created else "already registered"
        self.stdout.write(f"Shipped model {version.name} {state}{' and active' if version.is_active else ''}.")
