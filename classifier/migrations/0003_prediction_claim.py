from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("classifier", "0002_prediction_enqueued_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="prediction",
            name="claimed_at",
            field=models.DateTimeField(blank=True, db_index=True, help_text="When a worker last confirmed it was classifying it.", null=True),
        ),
        migrations.AddField(
            model_name="prediction",
            name="claimed_by",
            field=models.CharField(blank=True, help_text="The task delivery classifying it.", max_length=64),
        ),
    ]
