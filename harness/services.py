"""Redis and PostgreSQL: the machine's shared ones (started if down, one claimed Redis db or fresh database per run)
and throwaway ones a benchmark owns on free ports (stopped and restarted at will without disturbing anyone)."""
import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from .common import ServiceUnavailable, free_port, wait_for

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"

# The exact command CI uses to start the shared Redis.
REDIS_START = [
    "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
    "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log",
]


# --- The shared Redis ------------------------------------------------------------------------

def redis_client(db=0):
    """A client of database `db` of the shared Redis."""
    import redis

    return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db, socket_connect_timeout=2, socket_timeout=5)


def redis_up():
    try:
        return bool(redis_client().ping())
    except Exception:
        return False


def ensure_redis(timeout=20):
    """Make sure Redis answers on 127.0.0.1:6379, starting it if it is down; raise if it cannot."""
    if redis_up():
        return
    result = subprocess.run(REDIS_START, capture_output=True, text=True)
    if result.returncode != 0 and not redis_up():
        raise ServiceUnavailable(f"could not start redis-server (exit {result.returncode}): {result.stderr or result.stdout}")
    wait_for(redis_up, timeout, "Redis on 127.0.0.1:6379")


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
        control = redis_client(0)
        for number in range(1, 16):
            if control.set(self.CLAIM_KEY.format(number), self.token, nx=True, ex=self.ttl):
                self.db = number
                redis_client(number).flushdb()
                return self.url
        raise ServiceUnavailable("all Redis databases 1..15 are claimed by other runs")

    def release(self):
        if self.db is None:
            return
        try:
            redis_client(self.db).flushdb()
            control = redis_client(0)
            key = self.CLAIM_KEY.format(self.db)
            if control.get(key) == self.token.encode():
                control.delete(key)
        finally:
            self.db = None

    def __enter__(self):
        return self.claim()

    def __exit__(self, *exc):
        self.release()


# --- The shared PostgreSQL -------------------------------------------------------------------

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
    wait_for(postgres_up, timeout, "PostgreSQL on 127.0.0.1:5432")


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


# --- Throwaway services a benchmark owns -----------------------------------------------------

class OwnRedis:
    """A redis-server on a free port, no persistence: stopping it loses every queued message (the hard case)."""

    def __init__(self, workdir):
        self.port = free_port()
        self.dir = Path(workdir) / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log"), "--daemonize", "no"]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(self.up, 15, f"bench redis on port {self.port}")
        return self

    def up(self):
        import redis

        try:
            return redis.Redis(port=self.port, socket_connect_timeout=1).ping()
        except Exception:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            subprocess.run(["redis-cli", "-p", str(self.port), "shutdown", "nosave"], capture_output=True, timeout=10)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class OwnPostgres:
    """A throwaway PostgreSQL cluster (initdb) on a free port with one database, `petsite_bench`, restarted at will."""

    def __init__(self, workdir):
        # workdir is accepted for symmetry with OwnRedis; the cluster lives in a temporary folder of its own.
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not versions:
            raise ServiceUnavailable("no PostgreSQL server binaries under /usr/lib/postgresql")
        self.bin = versions[-1].parent
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="petsite-bench-pg-"))
        self.data = self.dir / "data"
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *command, timeout=60):
        result = subprocess.run([*self.as_postgres, *command], capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise ServiceUnavailable(f"{' '.join(command)} failed: {result.stderr or result.stdout}")
        return result

    def start(self):
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60 -c shared_buffers=64MB")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "postgres.log"), "-o", options, "-w", "start")
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute('CREATE DATABASE "petsite_bench"')
        return self

    @property
    def url(self):
        return f"postgres://postgres@127.0.0.1:{self.port}/petsite_bench"

    def restart(self):
        # -l again: the new postmaster must not inherit (and hold open) this process's pipes.
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "postgres.log"), "-m", "fast", "-w", "restart")

    def stop(self):
        if self.data.exists():
            with contextlib.suppress(Exception):
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)

    def query(self, sql, params=()):
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="petsite_bench", autocommit=True,
                             connect_timeout=5) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []
