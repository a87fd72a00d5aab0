"""Inference threads size themselves from the cores and the worker's concurrency; PETSITE_INFERENCE_THREADS overrides."""
import os
from types import SimpleNamespace

import pytest
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.concurrency.solo import TaskPool as SoloPool
from celery.concurrency.thread import TaskPool as ThreadPool

from classifier import inference, tasks
from training import predictor


@pytest.mark.parametrize("cores, concurrency, expected", [
    (2, 1, 2),  # solo worker, the embedded thread, the CLI: every core
    (2, 2, 1),  # the README's `celery worker` on 2 cores (default concurrency = cores)
    (2, 4, 1),  # more processes than cores: still one thread each
    (8, 2, 4),
    (8, 3, 2),
    (1, 1, 1),
])
def test_threads_are_the_cores_shared_by_the_concurrent_inferences(cores, concurrency, expected):
    assert predictor.inference_threads(concurrency=concurrency, cores=cores) == expected


def test_an_explicit_thread_count_wins():
    assert predictor.inference_threads(concurrency=2, cores=2, override=3) == 3
    assert predictor.inference_threads(concurrency=2, cores=8, override=0) == 4  # 0 = size automatically


def test_available_cores_follow_the_affinity_mask_and_a_container_quota(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("max 100000\n")
    assert predictor.available_cores(cpu_max) == 4
    cpu_max.write_text("200000 100000\n")  # docker --cpus 2
    assert predictor.available_cores(cpu_max) == 2
    cpu_max.write_text("50000 100000\n")  # half a core still runs one thread
    assert predictor.available_cores(cpu_max) == 1
    assert predictor.available_cores(tmp_path / "absent") == 4


@pytest.fixture
def fresh_predictor(monkeypatch):
    monkeypatch.setattr(inference, "_predictor", None)
    monkeypatch.setattr(inference, "_concurrency", 1)
    monkeypatch.setattr(predictor, "available_cores", lambda *args: 4)
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "1")  # keep this test process's TensorFlow as it is


@pytest.mark.django_db
@pytest.mark.parametrize("pool, concurrency, expected_concurrency, expected_threads", [
    (PreforkPool, 2, 2, 2),
    (PreforkPool, 4, 4, 1),
    (SoloPool, 1, 1, 4),
    (ThreadPool, 8, 1, 4),  # one model per process, shared by its threads
])
def test_a_celery_worker_sizes_its_model_from_its_pool(fresh_predictor, settings, pool, concurrency, expected_concurrency,
                                                       expected_threads):
    settings.PETSITE_INFERENCE_THREADS = 0
    # What the worker's main process receives before its pool starts (prefork children inherit the result).
    tasks.size_inference_for_the_pool(sender="w@host", instance=SimpleNamespace(pool_cls=pool, concurrency=concurrency))
    assert inference._concurrency == expected_concurrency
    assert inference.get_predictor().threads == expected_threads


@pytest.mark.django_db
def test_the_environment_override_reaches_the_loaded_model(fresh_predictor, settings):
    settings.PETSITE_INFERENCE_THREADS = 3
    inference.set_inference_concurrency(2)
    assert inference.get_predictor().threads == 3
