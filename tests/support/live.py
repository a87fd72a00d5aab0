"""Real processes for end-to-end tests and benchmarks: Redis, PostgreSQL, the site and Celery workers.

Everything here is plain Python with no pytest dependency, so bench/ can reuse it:

    ensure_redis(); ensure_postgres()
    with fresh_postgres_database() as database_url, RedisDb() as broker_url:
        env = site_env(media_root=..., model_path=build_tiny_model(...), database_url=database_url, broker_url=broker_url)
        migrate(env)
        site = LiveSite(env).start()
        worker = start_worker(env, concurrency=1)
        ...
        worker.stop(); site.stop()

or the whole bundle: `LiveStack(workdir, model_path, database="sqlite" | "postgres").start()` ... `.stop()`.

Services that are down are started with the exact commands CI uses; if they cannot be started
these helpers raise ServiceUnavailable (never skip silently).
"""
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
CELERY = str(VENV_BIN / "celery") if (VENV_BIN / "celery").exists() else "celery"

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"

REDIS_START = [
    "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
    "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log",
]


class ServiceUnavailable(RuntimeError):
    """A required service (Redis, PostgreSQL, the site, a worker) could not be started or reached."""


def _wait_for(check, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # keep polling; report the last reason
            last = exc
        time.sleep(0.2)
    raise ServiceUnavailable(f"{what} not ready after {timeout:.0f}s" + (f": {last!r}" if last else ""))


def free_port(host="127.0.0.1"):
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# --- Redis -----------------------------------------------------------------------------------

def _redis(db=0):
    import redis

    return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db, socket_connect_timeout=2, socket_timeout=5)


def redis_up():
    try:
        return bool(_redis().ping())
    except Exception:
        return False


def ensure_redis(timeout=20):
    """Make sure Redis answers on 127.0.0.1:6379, starting it if it is down; raise if it cannot."""
    if redis_up():
        return
    result = subprocess.run(REDIS_START, capture_output=True, text=True)
    if result.returncode != 0 and not redis_up():
        raise ServiceUnavailable(f"could not start redis-server (exit {result.returncode}): {result.stderr or result.stdout}")
    _wait_for(redis_up, timeout, "Redis on 127.0.0.1:6379")


class RedisDb:
    """Claim a Redis database number (1..15) no other run is using, flushed, for one run's broker.

    The claim is a key in db 0 with a TTL, so a killed run frees its number by itself.
    Use as a context manager (yields the broker URL) or call claim()/release().
    """

    CLAIM_KEY = "petsite:test-run-db:{}"

    def __init__(self, ttl=3 * 3600):
        self.ttl = ttl
        self.token = uuid.uuid4().hex
        self.db = None

    @property
    def url(self):
        return f"redis://{REDIS_HOST}:{REDIS_PORT}/{self.db}"

    def claim(self):
        ensure_redis()
        control = _redis(0)
        for number in range(1, 16):
            if control.set(self.CLAIM_KEY.format(number), self.token, nx=True, ex=self.ttl):
                self.db = number
                _redis(number).flushdb()
                return self.url
        raise ServiceUnavailable("all Redis databases 1..15 are claimed by other runs")

    def release(self):
        if self.db is None:
            return
        try:
            _redis(self.db).flushdb()
            control = _redis(0)
            key = self.CLAIM_KEY.format(self.db)
            if control.get(key) == self.token.encode():
                control.delete(key)
        finally:
            self.db = None

    def __enter__(self):
        return self.claim()

    def __exit__(self, *exc):
        self.release()


# --- PostgreSQL ------------------------------------------------------------------------------

def _pg_connect(dbname="postgres"):
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, connect_timeout=3, autocommit=True)


def postgres_up():
    try:
        with _pg_connect() as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def ensure_postgres(timeout=30):
    """Make sure PostgreSQL answers on 127.0.0.1:5432 (user postgres, trust), starting it if down; raise if it cannot."""
    if postgres_up():
        return
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions:
        raise ServiceUnavailable("PostgreSQL is down and no cluster is configured under /etc/postgresql")
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 and not postgres_up():
        raise ServiceUnavailable(f"could not start PostgreSQL with {' '.join(command)} (exit {result.returncode}): {result.stderr or result.stdout}")
    _wait_for(postgres_up, timeout, "PostgreSQL on 127.0.0.1:5432")


def postgres_url(name):
    return f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def create_postgres_database(prefix="petsite_test"):
    ensure_postgres()
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with _pg_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_postgres_database(name):
    with _pg_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def fresh_postgres_database(prefix="petsite_test"):
    """A new, uniquely named, empty PostgreSQL database for one run; yields its URL and drops it after."""
    name = create_postgres_database(prefix)
    try:
        yield postgres_url(name)
    finally:
        drop_postgres_database(name)


# --- The site and the workers ----------------------------------------------------------------

def build_tiny_model(path):
    """Build the tiny colour-reading test model at `path` in a subprocess (keeps TensorFlow out of the caller)."""
    path = Path(path)
    subprocess.run([PYTHON, "-m", "tests.tiny_model", str(path)], cwd=REPO, check=True, capture_output=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if not path.exists():
        raise ServiceUnavailable(f"tiny model was not written to {path}")
    return path


def site_env(media_root, model_path, database_url=None, sqlite_path=None, broker_url="", extra=None):
    """Environment for the site, workers and manage.py commands of one run."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        DJANGO_SETTINGS_MODULE="petsite.settings",
        DJANGO_DEBUG="1",
        PETSITE_MEDIA_ROOT=str(media_root),
        PETSITE_MODEL_PATH=str(model_path),
        CELERY_BROKER_URL=broker_url or "",
        PYTHONUNBUFFERED="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        # Keep TensorFlow modest on small shared machines.
        TF_NUM_INTRAOP_THREADS=env.get("TF_NUM_INTRAOP_THREADS", "1"),
        TF_NUM_INTEROP_THREADS=env.get("TF_NUM_INTEROP_THREADS", "1"),
        CUDA_VISIBLE_DEVICES=env.get("CUDA_VISIBLE_DEVICES", ""),
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    if sqlite_path:
        env["PETSITE_SQLITE_PATH"] = str(sqlite_path)
    env.update(extra or {})
    Path(media_root).mkdir(parents=True, exist_ok=True)
    return env


def manage(env, *args, timeout=180, check=True):
    """Run `manage.py *args` with `env`; returns the CompletedProcess."""
    result = subprocess.run([PYTHON, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise ServiceUnavailable(f"manage.py {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def migrate(env):
    return manage(env, "migrate", "--noinput")


class _Process:
    """A subprocess in its own process group, logging to a file, stopped by signalling the group."""

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


class LiveSite(_Process):
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
            _wait_for(self._ready, timeout, f"site at {self.url}")
        except ServiceUnavailable as exc:
            self.stop()
            raise ServiceUnavailable(f"{exc}\n--- site log ---\n{self.log_tail()}") from None
        return self


class Worker(_Process):
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
            _wait_for(self._ready, timeout, "Celery worker")
        except ServiceUnavailable as exc:
            self.stop()
            raise ServiceUnavailable(f"{exc}\n--- worker log ---\n{self.log_tail()}") from None
        return self


def start_worker(env, concurrency=1, pool=None, **kwargs):
    """Start a Celery worker process for `env` and wait until it is ready; returns the Worker (call .stop())."""
    return Worker(env, concurrency=concurrency, pool=pool, **kwargs).start()


class LiveStack:
    """A whole running site: database (SQLite file or a fresh PostgreSQL db), a claimed Redis db, site and worker(s)."""

    def __init__(self, workdir, model_path, database="sqlite", workers=1, concurrency=1, extra_env=None, server="runserver"):
        if database not in ("sqlite", "postgres"):
            raise ValueError("database must be 'sqlite' or 'postgres'")
        self.workdir = Path(workdir)
        self.model_path = Path(model_path)
        self.database = database
        self.n_workers = workers
        self.concurrency = concurrency
        self.extra_env = extra_env or {}
        self.server = server
        self.redis = RedisDb()
        self.pg_name = None
        self.env = None
        self.site = None
        self.workers = []

    @property
    def url(self):
        return self.site.url

    @property
    def media_root(self):
        return Path(self.env["PETSITE_MEDIA_ROOT"])

    @property
    def sqlite_path(self):
        return self.workdir / "db.sqlite3"

    def start(self):
        try:
            ensure_redis()
            broker_url = self.redis.claim()
            database_url = None
            if self.database == "postgres":
                self.pg_name = create_postgres_database()
                database_url = postgres_url(self.pg_name)
            self.env = site_env(self.workdir / "media", self.model_path, database_url=database_url,
                                sqlite_path=self.sqlite_path, broker_url=broker_url, extra=self.extra_env)
            migrate(self.env)
            self.site = LiveSite(self.env, server=self.server, log_path=self.workdir / "site.log").start()
            for index in range(self.n_workers):
                self.add_worker(log_path=self.workdir / f"worker-{index}.log")
        except BaseException:
            self.stop()
            raise
        return self

    def add_worker(self, concurrency=None, **kwargs):
        worker = start_worker(self.env, concurrency=concurrency or self.concurrency, **kwargs)
        self.workers.append(worker)
        return worker

    def stop(self):
        for worker in self.workers:
            worker.stop()
        self.workers = []
        if self.site:
            self.site.stop()
        self.redis.release()
        if self.pg_name:
            drop_postgres_database(self.pg_name)
            self.pg_name = None

    def query(self, sql, params=()):
        """Rows from the run's database (for checks; SQL uses %s placeholders)."""
        if self.database == "postgres":
            import psycopg

            with psycopg.connect(self.env["DATABASE_URL"].replace("postgres://", "postgresql://"), autocommit=True) as conn:
                cursor = conn.execute(sql, params)
                return cursor.fetchall() if cursor.description else []
        import sqlite3

        conn = sqlite3.connect(self.sqlite_path, timeout=30)
        try:
            with conn:
                cursor = conn.execute(sql.replace("%s", "?"), params)
                return cursor.fetchall()
        finally:
            conn.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# --- HTTP helpers ----------------------------------------------------------------------------

def http_json(url, data=None, files=None, timeout=30):
    """(status, parsed JSON or text) for GET or multipart POST, without raising on 4xx/5xx."""
    import requests

    if files is not None or data is not None:
        response = requests.post(url, data=data, files=files, timeout=timeout)
    else:
        response = requests.get(url, timeout=timeout)
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text


def wait_for_prediction(base_url, prediction_id, timeout=60, statuses=("done", "failed")):
    """Poll the API until the prediction leaves `pending`; returns its JSON."""
    deadline = time.monotonic() + timeout
    body = None
    while time.monotonic() < deadline:
        status, body = http_json(f"{base_url}/api/predictions/{prediction_id}/")
        if status == 200 and body.get("status") in statuses:
            return body
        time.sleep(0.25)
    raise AssertionError(f"prediction {prediction_id} still not finished after {timeout}s: {body}")
