"""The load the benchmarks send: uploads through the API from concurrent clients, optionally paced, and the two small
helpers they report with (`log`, `percentile`).

- `Load` (bench/faults.py): small generated colour pictures; a clean 503 or a refused connection is retried as the
  answer asks, so an outage shows up as delay, not as lost uploads; counts every answer.
- `PacedClients` (bench/serving.py): real photos from files, one attempt each; records when each was sent and how
  long each request took.
"""
import contextlib
import io
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

COLORS = {"cat": (220, 30, 30), "dog": (30, 200, 30), "fish": (30, 30, 220)}


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def percentile(values, p):
    """The p-th percentile of `values` (nearest rank); NaN when there are none."""
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def make_images(count=12):
    """A few small JPEGs per colour (red, green, blue: what the tiny test model labels cat, dog, fish), each slightly different."""
    from PIL import Image

    rng = random.Random(42)
    images = []
    for index in range(count):
        label = list(COLORS)[index % 3]
        base = COLORS[label]
        image = Image.new("RGB", (160, 120), base)
        pixels = image.load()
        for _ in range(400):
            x, y = rng.randrange(160), rng.randrange(120)
            pixels[x, y] = tuple(max(0, min(255, v + rng.randint(-40, 40))) for v in base)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        images.append((label, buffer.getvalue()))
    return images


class Clients:
    """`uploads` uploads from `clients` concurrent clients; `rate` uploads per second over all clients (0: as fast as
    the site takes them). Subclasses send one upload in `_one(index)`, calling `_pace(index)` first."""

    def __init__(self, base_url, uploads, clients, rate=0):
        self.base_url, self.uploads, self.clients, self.rate = base_url, uploads, clients, rate
        self.lock = threading.Lock()
        self.started = self.finished = None

    @property
    def seconds(self):
        return self.finished - self.started

    def _pace(self, index):
        if self.rate:
            wait = self.started + index / self.rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)

    def _one(self, index):
        raise NotImplementedError

    def run(self, on_progress=None):
        """Send every upload; `on_progress(count)` is called as each finishes, in order."""
        self.started = time.monotonic()
        with ThreadPoolExecutor(max_workers=self.clients) as pool:
            futures = [pool.submit(self._one, index) for index in range(self.uploads)]
            done_count = 0
            for future in futures:
                future.result()
                done_count += 1
                if on_progress:
                    on_progress(done_count)
        self.finished = time.monotonic()


class Load(Clients):
    """Generated pictures (`images`: (label, JPEG bytes)); retries clean 503s and refused connections."""

    def __init__(self, base_url, uploads, clients, images, rate=0):
        super().__init__(base_url, uploads, clients, rate)
        self.images = images
        self.sent = 0
        self.accepted = {}  # id -> expected label
        self.statuses = {}
        self.errors = []
        self.accepted_after_fault = 0
        self.fault_done = threading.Event()

    def _one(self, index):
        import requests

        label, data = self.images[index % len(self.images)]
        self._pace(index)
        for attempt in range(30):
            try:
                response = requests.post(f"{self.base_url}/api/predictions/", files={"image": (f"p{index}.jpg", data, "image/jpeg")}, timeout=30)
                status = response.status_code
            except requests.RequestException as exc:
                status = f"conn:{type(exc).__name__}"
            with self.lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 202:
                with self.lock:
                    self.accepted[response.json()["id"]] = label
                    if self.fault_done.is_set():
                        self.accepted_after_fault += 1
                return
            if status == 503 or isinstance(status, str):
                delay = 1.0
                with contextlib.suppress(Exception):
                    delay = min(2.0, float(response.headers.get("Retry-After", 1)))
                time.sleep(delay)
                continue  # a clean "try again": the client retries, as the message asks
            with self.lock:
                self.errors.append((status, response.text[:200] if hasattr(response, "text") else ""))
            return


class PacedClients(Clients):
    """Photos from files (`photos`: (label, path)), one attempt each; `sent_at[id] = (UTC send time, label)`."""

    def __init__(self, base_url, photos, uploads, clients, rate):
        super().__init__(base_url, uploads, clients, rate)
        self.photos = photos
        self.sent_at = {}
        self.request_ms = []
        self.errors = []

    def _one(self, index):
        import requests

        label, path = self.photos[index % len(self.photos)]
        self._pace(index)
        sent = datetime.now(timezone.utc)
        started = time.perf_counter()
        with open(path, "rb") as handle:
            response = requests.post(f"{self.base_url}/api/predictions/", files={"image": (path.name, handle, "image/jpeg")}, timeout=60)
        with self.lock:
            self.request_ms.append((time.perf_counter() - started) * 1000)
            if response.status_code == 202:
                self.sent_at[response.json()["id"]] = (sent, label)
            else:
                self.errors.append(response.status_code)
