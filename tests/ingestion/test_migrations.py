"""Data migrations: rows stored before a change of meaning are brought to the new one."""
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE, AFTER = ("ingestion", "0007_attempt"), ("ingestion", "0008_scraped_confidence_overall")


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


def test_a_scraped_photos_old_share_becomes_how_sure_the_model_was_overall():
    ScrapedPhoto = migrate(BEFORE).get_model("ingestion", "ScrapedPhoto")
    fields = {"url": "https://example.com/x.jpg", "query": "hamster", "label": "hamster", "phash": "0" * 16, "file": "x.jpg"}
    guinea_pig = ScrapedPhoto.objects.create(sha256="a" * 64, predicted_label="hamster", predicted_confidence=0.999, pet_score=0.661, **fields)
    rabbit = ScrapedPhoto.objects.create(sha256="b" * 64, predicted_label="unknown", predicted_confidence=0.8, pet_score=0.2, **fields)
    old_model = ScrapedPhoto.objects.create(sha256="c" * 64, predicted_label="cat", predicted_confidence=0.9, pet_score=None, **fields)
    try:
        ScrapedPhoto = migrate(AFTER).get_model("ingestion", "ScrapedPhoto")
        assert ScrapedPhoto.objects.get(pk=guinea_pig.pk).predicted_confidence == pytest.approx(0.999 * 0.661)
        assert ScrapedPhoto.objects.get(pk=rabbit.pk).predicted_confidence == pytest.approx(0.8)  # already 1 - pet score
        assert ScrapedPhoto.objects.get(pk=old_model.pk).predicted_confidence == pytest.approx(0.9)  # no pet score: a share
        ScrapedPhoto = migrate(BEFORE).get_model("ingestion", "ScrapedPhoto")  # and back
        assert ScrapedPhoto.objects.get(pk=guinea_pig.pk).predicted_confidence == pytest.approx(0.999)
    finally:
        migrate(("ingestion", MigrationExecutor(connection).loader.graph.leaf_nodes("ingestion")[0][1]))
