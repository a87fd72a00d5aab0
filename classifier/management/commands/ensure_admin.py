import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create a local admin user if no superuser exists, and print its credentials."

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("An admin user already exists (reset with: python manage.py changepassword <name>).")
            return
        username = os.environ.get("PETSITE_ADMIN_USER", "admin")
        password = os.environ.get("PETSITE_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(self.style.SUCCESS(f"Created admin user '{username}' with password '{password}' (log in at /admin/)."))
