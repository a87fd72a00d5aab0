import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "petsite.settings")
application = get_wsgi_application()

# Without a broker, pending uploads left by a crash are re-enqueued by a sweeper thread in this process.
from petsite.jobs import start_embedded_sweeper  # noqa: E402

start_embedded_sweeper()
