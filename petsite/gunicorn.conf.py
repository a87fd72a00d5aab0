"""gunicorn settings for `make run` and for production (`gunicorn -c petsite/gunicorn.conf.py petsite.wsgi`).

Threaded workers (gthread): requests mostly wait on the network, the database and the broker.
Without a broker the background jobs run on a thread pool inside the web process (petsite/jobs.py),
so one process is the default there: one model in memory, one job thread, one pending sweeper.
With a broker, Celery workers do the classifying and the web processes only accept uploads.
Command-line options and GUNICORN_CMD_ARGS override these; WEB_CONCURRENCY sets the process count.
"""
import os

_embedded = not os.environ.get("CELERY_BROKER_URL")

worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY") or (1 if _embedded else min(os.cpu_count() or 1, 4)))
threads = int(os.environ.get("PETSITE_WEB_THREADS") or 4)
timeout = 60
graceful_timeout = 10
accesslog = "-"
# Show the client's address and how long each request took, as runserver's log did.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'


def post_worker_init(worker):
    """Without a broker every web process classifies on its own job thread: they share the cores."""
    if _embedded:
        from classifier.inference import set_inference_concurrency

        set_inference_concurrency(worker.cfg.workers)
