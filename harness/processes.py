"""The site (runserver or gunicorn), Celery workers and beat as real processes, each in its own process group."""
import contextlib
import os
import signal
import subprocess
import urllib.request
import uuid
from pathlib import Path

from .common import CELERY, PYTHON, REPO, VENV_BIN, ServiceUnavailable, free_port, wait_for


class Process:
    """A subprocess in its own process group, logging to a file, stopped by signalling the group.

    Subclasses say `command()` and how to `start()` (spawn, then wait until ready).
    """

    name = "process"

    def __init__(self, env, log_path=None):
        self.env = env
        self.log_path = Path(log_path) if log_path else Path(env.get("PETSITE_MEDIA_ROOT", "/tmp")).parent / f"{self.name}-{uuid.uuid4().hex[:6]}.log"
        self.proc = None
        self._log = None

    def command(self):
        raise NotImplementedError

    def _spawn(self):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), cwd=REPO, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def log_tail(self, chars=4000):
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise ServiceUnavailable(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")

    def signal(self, signum):
        if self.alive:
            os.killpg(self.proc.pid, signum)

    def pause(self):
        """Freeze the whole process group (SIGSTOP): work queued meanwhile waits."""
        self.signal(signal.SIGSTOP)

    def resume(self):
        self.signal(signal.SIGCONT)

    @contextlib.contextmanager
    def paused(self):
        """Frozen for the `with` block (work queued meanwhile waits), resumed after it, whatever happens in it."""
        self.pause()
        try:
            yield self
        finally:
            self.resume()

    def stop(self, timeout=15):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGCONT)
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        # Children left in the group (e.g. prefork pool processes) go too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self._log:
            self._log.close()
            self._log = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class LiveSite(Process):
    """The Django site served by `manage.py runserver --noreload` (or gunicorn) on a free port."""

    name = "site"

    def __init__(self, env, port=None, host="127.0.0.1", server="runserver", log_path=None):
        super().__init__(env, log_path)
        self.host = host
        self.port = port or free_port(host)
        self.server = server

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def command(self):
        if self.server == "gunicorn":
            return [str(VENV_BIN / "gunicorn"), "petsite.wsgi:application", "-b", f"{self.host}:{self.port}", "-w", "2", "--timeout", "60"]
        return [PYTHON, "manage.py", "runserver", "--noreload", f"{self.host}:{self.port}"]

    def _ready(self):
        self._check_alive()
        with urllib.request.urlopen(self.url + "/", timeout=5) as response:
            return response.status == 200

    def start(self, timeout=60):
        self._spawn()
        try:
            wait_for(self._ready, timeout, f"site at {self.url}")
        except ServiceUnavailable as exc:
            self.stop()
            raise ServiceUnavailable(f"{exc}\n--- site log ---\n{self.log_tail()}") from None
        return self


class GunicornSite(LiveSite):
    """The site under gunicorn: a few workers with a few threads each (the benchmarks' production-like server)."""

    def __init__(self, env, workers=3, threads=4, **kwargs):
        super().__init__(env, server="gunicorn", **kwargs)
        self.workers, self.threads = workers, threads

    def command(self):
        return [str(VENV_BIN / "gunicorn"), "petsite.wsgi:application", "-b", f"{self.host}:{self.port}",
                "-w", str(self.workers), "--threads", str(self.threads), "--timeout", "60", "--graceful-timeout", "5"]


class Worker(Process):
    """A real Celery worker process consuming the site's queues."""

    name = "worker"

    def __init__(self, env, concurrency=1, pool=None, queues="celery,jobs", beat=False, log_path=None):
        super().__init__(env, log_path)
        self.concurrency = concurrency
        self.pool = pool or ("solo" if concurrency == 1 else "prefork")
        self.queues = queues
        self.beat = beat
        self.nodename = f"petsite-test-{uuid.uuid4().hex[:8]}@%h"

    def command(self):
        command = [CELERY, "-A", "petsite", "worker", "-Q", self.queues, f"--pool={self.pool}", "-c", str(self.concurrency),
                   "-n", self.nodename, "--without-gossip", "--without-mingle", "--loglevel=INFO"]
        if self.beat:
            command.append("-B")
        return command

    def _ready(self):
        self._check_alive()
        return " ready." in self.log_tail(200_000)

    def start(self, timeout=90):
        if not self.env.get("CELERY_BROKER_URL"):
            raise ServiceUnavailable("a worker needs CELERY_BROKER_URL in its environment")
        self._spawn()
        try:
            wait_for(self._ready, timeout, "Celery worker")
        except ServiceUnavailable as exc:
            self.stop()
            raise ServiceUnavailable(f"{exc}\n--- worker log ---\n{self.log_tail()}") from None
        return self


def start_worker(env, concurrency=1, pool=None, **kwargs):
    """Start a Celery worker process for `env` and wait until it is ready; returns the Worker (call .stop())."""
    return Worker(env, concurrency=concurrency, pool=pool, **kwargs).start()


class Beat(Process):
    """Celery beat (the site's schedule, e.g. the pending sweeper) as a process of its own."""

    name = "beat"

    def __init__(self, env, schedule_path, **kwargs):
        super().__init__(env, **kwargs)
        self.schedule_path = schedule_path

    def command(self):
        return [CELERY, "-A", "petsite", "beat", "-s", str(self.schedule_path), "--loglevel=INFO"]

    def start(self):
        self._spawn()
        wait_for(lambda: self._check_alive() is None and "beat: Starting" in self.log_tail(100_000), 60, "celery beat")
        return self
