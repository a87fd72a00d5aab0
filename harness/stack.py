"""One run of the site: its environment, migrations, the tiny test model, and LiveStack (everything at once)."""
import os
import subprocess
from pathlib import Path

from .common import PYTHON, REPO, ServiceUnavailable
from .processes import LiveSite, start_worker
from .services import RedisDb, create_postgres_database, drop_postgres_database, ensure_redis, postgres_url


def build_tiny_model(path, class_maps=False):
    """Build the tiny colour-reading test model at `path` in a subprocess (keeps TensorFlow out of the caller);
    class_maps: with the class-map output, so the worker also stores a heat map."""
    path = Path(path)
    subprocess.run([PYTHON, "-m", "tests.tiny_model", str(path), *(["--class-maps"] if class_maps else [])], cwd=REPO, check=True, capture_output=True,
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
        PETSITE_TRAINING_ABSTRACT_PICTURES=env.get("PETSITE_TRAINING_ABSTRACT_PICTURES", "6"),  # tiny retrains stay tiny
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
