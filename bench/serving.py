"""Serving benchmark: the model beside the seed CNN, and the upload-to-result path on real services.

    python bench/serving.py [--model training/default_model/model.keras] [--uploads 1000] [--clients 16] [--rate 40]

Part 1 (in one process, interleaved rounds so the ratio holds on a noisy machine): batch-1 latency
(median of 50 after warm-up, decode + fit/pad + inference of a real JPEG) and batch-32 throughput
of the seed CNN (Keras model.predict as the original demo ran it, an eager call, and a compiled
tf.function call, the fastest Keras path) and of the default model
through the site's Predictor (LiteRT export and plain Keras).

Part 2: gunicorn + Celery worker(s) + the bench's own Redis and PostgreSQL on 127.0.0.1. Real pet
photos are uploaded through the API by --clients concurrent clients, paced at --rate per second
(0: as fast as accepted). Latency is from the moment a client starts sending to the stored
completed_at. Reported for 1 and 2 worker processes, with worker resident memory before and
after, the inference threads each pool process chose (from its start-up log line; the defaults size them
as cores // processes, --threads forces a count), and a check that every upload was classified exactly
once (one attempt, status done).
"""
import argparse
import os
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import harness  # noqa: E402
from bench.load import PacedClients, log, percentile  # noqa: E402
from ingestion.labels import CLASSES  # noqa: E402

PETS = REPO.parent / "shared" / "data" / "pets"


def sample_photos(per_class=8):
    photos = []
    for label in CLASSES:
        photos += [(label, p) for p in sorted((PETS / label).glob("*.jpg"))[-per_class:]]
    return photos


# --- Part 1: the models ---------------------------------------------------------------------------------------------

def seed_cnn():
    from training.architectures import build_seed

    return build_seed()


def time_call(fn, repeats=50, warmup=5):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000.0


def model_table(model_path, rounds=3):
    import numpy as np
    import tensorflow as tf

    from ingestion.images import image_to_array, open_image
    from training.predictor import Predictor
    from training.registry import spec_from_file

    photos = [p for _, p in sample_photos(6)]
    spec = spec_from_file(model_path)
    seed = seed_cnn()
    seed_call = tf.function(lambda batch: seed(batch, training=False), reduce_retracing=True)
    predictors = {"litert": Predictor(spec, backend="litert"), "keras": Predictor(spec, backend="keras")}

    def seed_batch(paths, size=240):
        return np.stack([image_to_array(open_image(p), size) for p in paths]).astype("float32")

    contenders = {
        "seed CNN, model.predict": (lambda: seed.predict(seed_batch(photos[:1]), verbose=0),
                                    lambda: seed.predict(seed_batch(photos[:32]), batch_size=32, verbose=0)),
        "seed CNN, eager call": (lambda: seed(seed_batch(photos[:1]), training=False),
                                 lambda: seed(seed_batch(photos[:32]), training=False)),
        "seed CNN, direct call": (lambda: seed_call(seed_batch(photos[:1])), lambda: seed_call(seed_batch(photos[:32]))),
        **{f"default ({name})": (lambda p=p: p.predict_images([open_image(photos[0])]),
                                 lambda p=p: p.predict_images([open_image(x) for x in photos[:32]]))
           for name, p in predictors.items()},
    }
    batch1 = {name: [] for name in contenders}
    batch32 = {name: [] for name in contenders}
    for round_index in range(rounds):
        for name, (one, many) in contenders.items():
            batch1[name].append(time_call(one, repeats=50))
            batch32[name].append(32_000.0 / time_call(many, repeats=5, warmup=1))
        log(f"model round {round_index + 1}/{rounds} done")
    rows = []
    reference = statistics.median(batch1["seed CNN, direct call"])
    baseline = statistics.median(batch1["seed CNN, model.predict"])
    for name in contenders:
        ms = statistics.median(batch1[name])
        rows.append((name, ms, statistics.median(batch32[name]), ms / reference, ms / baseline))
    print("\nModels (preprocessing included: JPEG decode, EXIF, fit and pad; medians of %d rounds)" % rounds)
    print(f"{'model':28} | {'batch-1 ms':>10} | {'batch-32 img/s':>14} | {'x seed direct':>13} | {'x seed predict':>14}")
    for name, ms, ips, ratio, ratio_predict in rows:
        print(f"{name:28} | {ms:10.2f} | {ips:14.1f} | {ratio:13.2f} | {ratio_predict:14.2f}")
    return rows


# --- Part 2: the serving path ---------------------------------------------------------------------------------------

def worker_rss_mb(worker):
    """Resident memory (MB) of each process of a Celery worker: the main process and its pool children."""
    def rss(pid):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
        return 0.0

    pids = [worker.proc.pid]
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        ppid = next((line.split()[1] for line in text.splitlines() if line.startswith("PPid:")), None)
        if ppid == str(worker.proc.pid):
            pids.append(int(status.parent.name))
    return {pid: rss(pid) for pid in pids}


def inference_threads_used(worker):
    """Inference threads of each pool process, from the line each logs when its model loads (classifier.inference)."""
    found = re.findall(r"in pid (\d+): (\d+) inference thread", worker.log_tail(2_000_000))
    return [int(threads) for _, threads in dict(found).items()]


def serving_table(args):
    workdir = Path(tempfile.mkdtemp(prefix="petsite-serving-"))
    redis = harness.OwnRedis(workdir).start()
    pg = harness.OwnPostgres(workdir).start()
    extra = {
        "DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "0", "PETSITE_RATELIMIT_UPLOAD": "0", "PETSITE_RATELIMIT_API": "0",
        "PETSITE_LOG_LEVEL": "WARNING", "PETSITE_INFERENCE_BACKEND": args.backend,
    }
    if args.threads:
        extra["PETSITE_INFERENCE_THREADS"] = str(args.threads)
    env = harness.site_env(workdir / "media", Path(args.model).resolve(), database_url=pg.url, broker_url=redis.url, extra=extra)
    harness.migrate(env)
    site = harness.GunicornSite(env, workers=args.web_workers, threads=args.web_threads, log_path=workdir / "site.log").start()
    photos = sample_photos(8)
    rows = []
    try:
        for processes in args.worker_processes:
            worker = harness.Worker(env, concurrency=processes, pool="prefork", log_path=workdir / f"worker-{processes}.log").start(timeout=180)
            time.sleep(2)
            before = worker_rss_mb(worker)
            clients = PacedClients(site.url, photos, args.uploads, args.clients, args.rate)
            log(f"--- {processes} worker process(es): {args.uploads} uploads from {args.clients} clients"
                + (f" paced at {args.rate}/s" if args.rate else " unpaced"))
            try:
                clients.run()
            except BaseException:
                worker.stop()
                raise
            ids = list(clients.sent_at)
            deadline = time.monotonic() + args.drain_timeout
            while time.monotonic() < deadline:
                result = pg.query("SELECT id, status, label, completed_at, attempts, created_at FROM classifier_prediction WHERE id = ANY(%s)", (ids,))
                if sum(1 for r in result if r[1] == "pending") == 0 and len(result) == len(ids):
                    break
                time.sleep(0.5)
            after = worker_rss_mb(worker)
            threads = inference_threads_used(worker)
            worker.stop()
            done = [r for r in result if r[1] == "done"]
            latencies = [(r[3] - clients.sent_at[r[0]][0]).total_seconds() * 1000 for r in done]
            first = min(clients.sent_at[r[0]][0] for r in result)
            last = max(r[3] for r in done)
            children_before = [mb for pid, mb in before.items() if pid != worker.proc.pid]
            children_after = [mb for pid, mb in after.items() if pid != worker.proc.pid]
            rows.append({
                "processes": processes, "accepted": len(ids), "done": len(done), "errors": len(clients.errors),
                "exactly once": sum(1 for r in done if r[4] == 1),
                "p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "p99": percentile(latencies, 99),
                "pred/s": len(done) / (last - first).total_seconds(),
                "upload ms": statistics.median(clients.request_ms),
                "rss before": "/".join(f"{mb:.0f}" for mb in children_before),
                "rss after": "/".join(f"{mb:.0f}" for mb in children_after),
                "threads": "/".join(str(t) for t in threads) or "?",
            })
    finally:
        site.stop()
        redis.stop()
        pg.stop()
        if args.keep:
            log(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    sizing = f"PETSITE_INFERENCE_THREADS={args.threads}" if args.threads else "inference threads sized by default"
    print(f"\nServing path (backend {args.backend}, {sizing}, {args.clients} clients, {'paced at %s/s' % args.rate if args.rate else 'unpaced'}; "
          f"latency = client send -> stored done, ms; RSS MB and inference threads per pool process)")
    header = ["processes", "accepted", "done", "errors", "exactly once", "p50", "p95", "p99", "pred/s", "upload ms", "rss before",
              "rss after", "threads"]
    print(" | ".join(f"{h:>12}" for h in header))
    for row in rows:
        print(" | ".join(f"{row[h]:>12.1f}" if isinstance(row[h], float) else f"{row[h]!s:>12}" for h in header))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "training" / "default_model" / "model.keras"))
    parser.add_argument("--uploads", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rate", type=float, default=40.0, help="uploads per second over all clients (0: unpaced)")
    parser.add_argument("--worker-processes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    parser.add_argument("--threads", type=int, default=0,
                        help="force PETSITE_INFERENCE_THREADS (default 0: each process sizes itself, cores // processes)")
    parser.add_argument("--backend", default="auto", choices=["auto", "litert", "keras"], help="inference backend of the workers")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--drain-timeout", type=float, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the work directory and logs")
    parser.add_argument("--skip-models", action="store_true")
    parser.add_argument("--skip-serving", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "petsite.settings")
    import django

    django.setup()
    if not args.skip_models:
        model_table(args.model)
    if not args.skip_serving:
        serving_table(args)


if __name__ == "__main__":
    main()
