from django.db import migrations, models


def fill_site_photo_ids(apps, schema_editor):
    """Give photos stored before this migration their site's photo id (the first of several sizes keeps it)."""
    from ingestion.scraping.photos import LAYOUTS

    ScrapedPhoto = apps.get_model("ingestion", "ScrapedPhoto")
    taken = set()
    for photo in ScrapedPhoto.objects.filter(job__isnull=False).select_related("job").order_by("pk"):
        layout = LAYOUTS.get(photo.job.source)
        site_photo_id = layout.photo_id(photo.url) if layout else None
        if site_photo_id and site_photo_id not in taken:
            taken.add(site_photo_id)
            ScrapedPhoto.objects.filter(pk=photo.pk).update(site_photo_id=site_photo_id)


class Migration(migrations.Migration):

    dependencies = [
        ("ingestion", "0003_scrapejob_cancel_requested"),
    ]

    operations = [
        migrations.AddField(
            model_name="scrapedphoto",
            name="site_photo_id",
            field=models.CharField(
                blank=True, help_text="The site's own id, e.g. flickr:53012345678.", max_length=100, null=True,
                unique=True,
            ),
        ),
        migrations.RunPython(fill_site_photo_ids, migrations.RunPython.noop),
    ]
