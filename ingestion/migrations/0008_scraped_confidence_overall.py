"""A scraped photo's predicted_confidence becomes how sure the model is overall (a pet's share among the six pets x the
pet score), as the public pages say it and as new scores store it; rows scored before held the share alone."""
from django.db import migrations
from django.db.models import F

PETS = ("bird", "cat", "dog", "dragon", "fish", "hamster")  # frozen here: a migration never imports the app's code


def share_to_overall(apps, schema_editor):
    ScrapedPhoto = apps.get_model("ingestion", "ScrapedPhoto")
    ScrapedPhoto.objects.filter(predicted_label__in=PETS, predicted_confidence__isnull=False, pet_score__isnull=False).update(
        predicted_confidence=F("predicted_confidence") * F("pet_score"))


def overall_to_share(apps, schema_editor):
    ScrapedPhoto = apps.get_model("ingestion", "ScrapedPhoto")
    ScrapedPhoto.objects.filter(predicted_label__in=PETS, predicted_confidence__isnull=False, pet_score__gt=0).update(
        predicted_confidence=F("predicted_confidence") / F("pet_score"))


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0007_attempt")]
    operations = [migrations.RunPython(share_to_overall, overall_to_share)]
