from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ingestion import services
from ingestion.labels import CLASSES
from ingestion.models import ScrapeJob
from ingestion.scraping.sources import SOURCES


class Command(BaseCommand):
    help = "Scrape photos of one class from Flickr or Imgur search results (the same job the admin starts)."

    def add_arguments(self, parser):
        parser.add_argument("--source", choices=sorted(SOURCES), help="Site to search.")
        parser.add_argument("--query", help='Search words, e.g. "one bird".')
        parser.add_argument("--label", choices=CLASSES, help="Class the photos are stored as.")
        parser.add_argument("--count", type=int, default=100, help="How many new photos to store (default 100).")
        parser.add_argument("--base-url", default="", help="Scrape this host instead of the real site (a mirror, a test server).")
        parser.add_argument(
            "--auto-accept", type=float, default=None, metavar="CONFIDENCE",
            help="Accept photos the live model gives --label at or above this confidence (0-1); default: staff curate all.",
        )
        parser.add_argument("--resume", type=int, metavar="JOB_ID", help="Resume a failed or abandoned job instead.")

    def handle(self, *args, **options):
        try:
            if options["resume"]:
                job = services.resume_scrape_job(options["resume"])
            else:
                missing = [name for name in ("source", "query", "label") if not options[name]]
                if missing:
                    raise CommandError(f"Give --{', --'.join(missing)} (or --resume JOB_ID).")
                job = services.create_scrape_job(
                    options["source"], options["query"], options["label"], options["count"], base_url=options["base_url"],
                    auto_accept_confidence=options["auto_accept"],
                )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

        bar = tqdm(total=job.target_count, unit="photo", desc=f"job {job.pk}", disable=options["verbosity"] == 0)

        def progress(state):
            bar.n = min(state.downloaded_count, state.target_count)
            bar.set_postfix(found=state.found_count, skipped=state.skipped_count, failed=state.failed_count, refresh=False)
            bar.refresh()

        try:
            job = services.run_scrape_job(job.pk, progress=progress)
        finally:
            bar.close()
        summary = (
            f"Job {job.pk}: {job.status}; found {job.found_count}, downloaded {job.downloaded_count}, "
            f"skipped {job.skipped_count}, failed {job.failed_count}."
        )
        if job.status != ScrapeJob.Status.DONE:
            raise CommandError(f"{summary} {job.error} Resume with: manage.py scrape --resume {job.pk}")
        self.stdout.write(self.style.SUCCESS(f"{summary} {job.message}"))
