"""The process harness: real Redis, PostgreSQL, the site (runserver or gunicorn) and Celery workers and beat, for the
end-to-end and reliability tests and for the benchmarks in bench/. Plain Python, no pytest:

    ensure_redis(); ensure_postgres()
    with fresh_postgres_database() as database_url, RedisDb() as broker_url:
        env = site_env(media_root=..., model_path=build_tiny_model(...), database_url=database_url, broker_url=broker_url)
        migrate(env)
        site = LiveSite(env).start()
        worker = start_worker(env, concurrency=1)
        ...
        worker.stop(); site.stop()

or the whole bundle: `LiveStack(workdir, model_path, database="sqlite" | "postgres").start()` ... `.stop()`.

- `common.py`: paths of the repository and its tools, `wait_for`, `free_port`, `ServiceUnavailable`.
- `services.py`: the machine's Redis and PostgreSQL (started if down with the exact commands CI uses; one claimed Redis
  db or fresh database per run) and `OwnRedis`/`OwnPostgres`, throwaway ones a benchmark stops and restarts at will.
- `processes.py`: `LiveSite`, `GunicornSite`, `Worker`, `Beat`: processes in their own process group, waited for
  until ready, stopped (or paused) by signalling the group.
- `stack.py`: a run's environment (`site_env`), `manage`/`migrate`, the tiny test model, `LiveStack`.
- `client.py`: `http_json`, `wait_for_prediction` (the site from the outside).

Services that cannot be started or reached raise ServiceUnavailable (never skip silently).
"""
from .client import http_json, wait_for_prediction
from .common import CELERY, PYTHON, REPO, VENV_BIN, ServiceUnavailable, free_port, wait_for
from .processes import Beat, GunicornSite, LiveSite, Process, Worker, start_worker
from .services import (
    OwnPostgres,
    OwnRedis,
    RedisDb,
    create_postgres_database,
    drop_postgres_database,
    ensure_postgres,
    ensure_redis,
    fresh_postgres_database,
    postgres_up,
    postgres_url,
    redis_client,
    redis_up,
)
from .stack import LiveStack, build_tiny_model, manage, migrate, site_env

__all__ = [
    "Beat", "CELERY", "GunicornSite", "LiveSite", "LiveStack", "OwnPostgres", "OwnRedis", "PYTHON", "Process", "REPO",
    "RedisDb", "ServiceUnavailable", "VENV_BIN", "Worker", "build_tiny_model", "create_postgres_database",
    "drop_postgres_database", "ensure_postgres", "ensure_redis", "free_port", "fresh_postgres_database", "http_json",
    "manage", "migrate", "postgres_up", "postgres_url", "redis_client", "redis_up", "site_env", "start_worker",
    "wait_for", "wait_for_prediction",
]
