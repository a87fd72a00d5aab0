import os
import secrets

from django.core.management.base import BaseCommand

from classifier.services import create_admin_user_if_none


class Command(BaseCommand):
    help = "Create a local admin user if no superuser exists, and print its credentials."

    def handle(self, *args, **options):
        username = os.environ.get("PETSITE_ADMIN_USER", "admin")
        password = os.environ.get("PETSITE_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        if not create_admin_user_if_none(username, password):
            self.stdout.write("An admin user already exists (reset with: python manage.py changepassword <name>).")
            return
        self.stdout.write(self.style.SUCCESS(f"Created admin user '{username}' with password '{password}' (log in at /admin/)."))
