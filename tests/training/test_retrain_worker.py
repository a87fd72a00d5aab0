"""Retrain now on a real Celery worker (jobs queue) over real Redis and PostgreSQL: build, train, compare, promote."""
import json
import shutil

import pytest

import harness
from tests.conftest import OTHER, pet_photos

pytestmark = [pytest.mark.services, pytest.mark.slow]

RETRAIN = "from training.runs import start_retrain; print('RUN', start_retrain().pk)"


def test_retrain_now_runs_on_a_real_worker(tmp_path):
    source = tmp_path / "base"
    for label in ("cat", "dog", "fish"):
        (source / label).mkdir(parents=True)
        for photo in pet_photos(label, 6):
            shutil.copy(photo, source / label / photo.name)
    other = tmp_path / "other"
    for group in ("vehicles", "food"):
        (other / group).mkdir(parents=True)
        for photo in sorted((OTHER / group).glob("*.jpg"))[:4]:
            shutil.copy(photo, other / group / photo.name)
    model = harness.build_tiny_model(tmp_path / "model" / "tiny.keras")
    harness.ensure_redis()
    harness.ensure_postgres()
    with harness.fresh_postgres_database() as database_url, harness.RedisDb() as broker_url:
        env = harness.site_env(tmp_path / "media", model, database_url=database_url, broker_url=broker_url, extra={
            "PETSITE_DATASETS_ROOT": str(tmp_path / "datasets"), "PETSITE_DATASET_BASE_FOLDERS": str(source),
            "PETSITE_DATASET_MIN_PER_CLASS": "0", "PETSITE_TRAINING_OTHER_DIRS": str(other),
            "PETSITE_RETRAIN_OPTIONS": json.dumps({"input_size": 64, "epochs": 2}),
            # rules any model passes: the live model is the tiny colour model, the point is the pipeline
            "PETSITE_PROMOTION_MAX_ACCURACY_DROP": "1", "PETSITE_PROMOTION_MAX_RECALL_DROP": "1",
            "PETSITE_PROMOTION_MAX_PET_UNKNOWN_RISE": "1",
        })
        harness.migrate(env)
        worker = harness.start_worker(env, queues="jobs", log_path=tmp_path / "worker.log")
        try:
            started = harness.manage(env, "shell", "-c", RETRAIN)
            run_id = int(started.stdout.split("RUN")[1].split()[0])
            import time

            import psycopg

            sql = ("SELECT r.status, r.step, r.error, r.outcome, d.name, m.name, m.is_active FROM training_trainingrun r "
                   "LEFT JOIN ingestion_datasetversion d ON d.id = r.dataset_version_id "
                   "LEFT JOIN training_modelversion m ON m.id = r.model_version_id WHERE r.id = %s")
            deadline = time.monotonic() + 420
            with psycopg.connect(database_url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
                while True:
                    row = conn.execute(sql, (run_id,)).fetchone()
                    if row[0] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
                        break
                    time.sleep(2)
            status, step, error, outcome, dataset, version, active = row
            assert status == "succeeded" and step == "done", f"{status} {error}\n{worker.log_tail(5000)}"
            assert dataset.startswith("auto-") and version and active and "now the live model" in outcome
            assert "training.retrain_now" in worker.log_tail(200_000)
        finally:
            worker.stop()
