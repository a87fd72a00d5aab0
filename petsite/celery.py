import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "petsite.settings")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

app = Celery("petsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
