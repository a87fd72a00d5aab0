from django.apps import AppConfig


class ClassifierConfig(AppConfig):
    name = "classifier"
    verbose_name = "Classifier (predictions and review)"

    def ready(self):
        from ingestion.dataset import register_example_provider

        from .services import reviewed_examples

        # Reviewed predictions join every dataset rebuild, their corrected label winning (ingestion never imports us).
        register_example_provider(reviewed_examples)
