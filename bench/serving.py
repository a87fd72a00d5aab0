"""Serving benchmark: the model beside the seed CNN, and the upload-to-result path on real services.

    python bench/serving.py [--model training/default_model/model.keras] [--uploads 1000] [--clients 16] [--rate 0,40]
                            [--worker-processes 1,2] [--backend auto,litert-int8] [--profile] [--skip-demo]

Part 1 (in one process, interleaved rounds so the ratio holds on a noisy machine): batch-1 latency
(median of 50 after warm-up, decode + fit/pad + inference of a real JPEG) and batch-32 throughput
of the seed CNN (Keras model.predict as the original demo ran it, an eager call, and a compiled
tf.function call, the fastest Keras path) and of the default model
through the site's Predictor (LiteRT float export, LiteRT int8 export when there is a verified one, plain Keras).

Part 2: gunicorn + Celery worker(s) with the beat sweeper + the bench's own Redis and PostgreSQL on 127.0.0.1. Real pet
photos are uploaded through the API by --clients concurrent clients, paced at each --rate per second
(0: as fast as accepted). Latency is from the moment a client starts sending to the stored
completed_at. Reported for 1 and 2 worker processes, with worker resident memory before and
after, the inference threads each pool process chose (from its start-up log line; the defaults size them
as cores // processes, --threads forces a count), and a check that every upload was classified exactly
once (one attempt, status done). "cpu ms/upload" is the CPU time (user + system, from /proc) of the web processes, the
worker processes, PostgreSQL and Redis during the load, divided by the uploads.

With --profile, py-spy samples the web and worker process trees during each load and writes flame graphs (SVG) and
collapsed stacks to a folder it prints, with a table of CPU ms per upload for each step of the path (bench/profiling.py).

Part 3: the original demo (bench/demo_app.py: save, RGBA thumbnail 240 as PNG, load_img, /255, model.predict on the
seed CNN, synchronous per request) under gunicorn sync workers (one per core), the same photos from the same number of
clients as fast as answered; its photos/s and p50 beside the site's, and the ratio.
"""
import argparse
import contextlib
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
from bench.load import Clients, PacedClients, log, percentile  # noqa: E402
from bench.profiling import ProcessCpu, Profiler, breakdown_table  # noqa: E402
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
    from training.predictor import usable_export

    predictors = {"litert": Predictor(spec, backend="litert")}
    if usable_export(spec, "int8") is not None:
        predictors["litert-int8"] = Predictor(spec, backend="litert-int8")
    else:
        log("no verified int8 export beside the model (manage.py export_litert --int8): its row is left out")
    predictors["keras"] = Predictor(spec, backend="keras")

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


def postmaster_pid(pg):
    return int((pg.data / "postmaster.pid").read_text().split()[0])


def serving_table(args):
    workdir = Path(tempfile.mkdtemp(prefix="petsite-serving-"))
    profile_dir = Path(args.profile_dir or workdir / "profiles") if args.profile else None
    redis = harness.OwnRedis(workdir).start()
    pg = harness.OwnPostgres(workdir).start()
    photos = sample_photos(8)
    rows = []
    breakdowns = []
    try:
        for backend in args.backend:
            extra = {
                "DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
                "DJANGO_SECURE_SSL_REDIRECT": "0", "PETSITE_RATELIMIT_UPLOAD": "0", "PETSITE_RATELIMIT_API": "0",
                "PETSITE_LOG_LEVEL": "WARNING", "PETSITE_INFERENCE_BACKEND": backend,
            }
            if args.threads:
                extra["PETSITE_INFERENCE_THREADS"] = str(args.threads)
            env = harness.site_env(workdir / "media", Path(args.model).resolve(), database_url=pg.url, broker_url=redis.url,
                                   extra=extra)
            harness.migrate(env)
            site = harness.GunicornSite(env, workers=args.web_workers, threads=args.web_threads,
                                        log_path=workdir / "site.log").start()
            try:
                for processes in args.worker_processes:
                    for rate in args.rate:
                        row, steps = serving_run(args, env, site, redis, pg, photos, workdir, backend, processes, rate, profile_dir)
                        rows.append(row)
                        if steps:
                            breakdowns.append(steps)
            finally:
                site.stop()
    finally:
        redis.stop()
        pg.stop()
        if args.keep:
            log(f"logs kept in {workdir}")
        elif not args.profile:
            shutil.rmtree(workdir, ignore_errors=True)
    sizing = f"PETSITE_INFERENCE_THREADS={args.threads}" if args.threads else "inference threads sized by default"
    print(f"\nServing path ({sizing}, {args.clients} clients, gunicorn {args.web_workers}x{args.web_threads} threads, worker "
          "with beat; latency = client send -> stored done, ms; RSS MB and inference threads per pool process; "
          "CPU ms per upload of each process tree)")
    header = ["backend", "processes", "rate", "accepted", "done", "errors", "exactly once", "p50", "p95", "p99", "pred/s",
              "upload ms", "cpu web", "cpu worker", "cpu pg", "cpu redis", "rss before", "rss after", "threads"]
    print(" | ".join(f"{h:>12}" for h in header))
    for row in rows:
        print(" | ".join(f"{row[h]:>12.1f}" if isinstance(row[h], float) else f"{row[h]!s:>12}" for h in header))
    for title, table in breakdowns:
        print(f"\nCPU per upload by step, {title} (py-spy samples; ms per upload)\n{table}")
    if profile_dir:
        print(f"\nFlame graphs (SVG) and collapsed stacks: {profile_dir}")
    return rows


def serving_run(args, env, site, redis, pg, photos, workdir, backend, processes, rate, profile_dir):
    """One load: a fresh worker (with beat), `args.uploads` uploads at `rate` (0: unpaced); its table row and profile."""
    worker = harness.Worker(env, concurrency=processes, pool="prefork", beat=True,
                            log_path=workdir / f"worker-{backend}-{processes}.log").start(timeout=180)
    time.sleep(2)
    before = worker_rss_mb(worker)
    clients = PacedClients(site.url, photos, args.uploads, args.clients, rate)
    tag = f"{backend}-{processes}p-{'unpaced' if not rate else f'{rate:g}per-s'}"
    log(f"--- {tag}: {args.uploads} uploads from {args.clients} clients" + (f" paced at {rate}/s" if rate else " unpaced"))
    cpu = ProcessCpu({"web": site.proc.pid, "worker": worker.proc.pid, "pg": postmaster_pid(pg), "redis": redis.proc.pid})
    profilers = []
    if profile_dir:
        profilers = [Profiler(f"{tag}-web", site.proc.pid, profile_dir).start(),
                     Profiler(f"{tag}-worker", worker.proc.pid, profile_dir).start()]
        time.sleep(1)  # py-spy attaches
    cpu.start()
    try:
        clients.run()
        ids = list(clients.sent_at)
        deadline = time.monotonic() + args.drain_timeout
        while time.monotonic() < deadline:
            result = pg.query("SELECT id, status, label, completed_at, attempts, created_at FROM classifier_prediction "
                              "WHERE id = ANY(%s)", (ids,))
            if sum(1 for r in result if r[1] == "pending") == 0 and len(result) == len(ids):
                break
            time.sleep(0.25)
        used = cpu.stop()
        for profiler in profilers:
            profiler.stop()
    except BaseException:
        for profiler in profilers:
            profiler.stop()
        worker.stop()
        raise
    after = worker_rss_mb(worker)
    threads = inference_threads_used(worker)
    worker.stop()
    done = [r for r in result if r[1] == "done"]
    latencies = [(r[3] - clients.sent_at[r[0]][0]).total_seconds() * 1000 for r in done]
    first = min(clients.sent_at[r[0]][0] for r in result)
    last = max(r[3] for r in done)
    children_before = [mb for pid, mb in before.items() if pid != worker.proc.pid]
    children_after = [mb for pid, mb in after.items() if pid != worker.proc.pid]
    per_upload = {name: seconds * 1000.0 / max(len(ids), 1) for name, seconds in used.items()}
    row = {
        "backend": backend, "processes": processes, "rate": f"{rate:g}/s" if rate else "unpaced",
        "accepted": len(ids), "done": len(done), "errors": len(clients.errors),
        "exactly once": sum(1 for r in done if r[4] == 1),
        "p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "p99": percentile(latencies, 99),
        "pred/s": len(done) / (last - first).total_seconds(),
        "upload ms": statistics.median(clients.request_ms),
        "cpu web": per_upload.get("web", 0.0), "cpu worker": per_upload.get("worker", 0.0),
        "cpu pg": per_upload.get("pg", 0.0), "cpu redis": per_upload.get("redis", 0.0),
        "rss before": "/".join(f"{mb:.0f}" for mb in children_before),
        "rss after": "/".join(f"{mb:.0f}" for mb in children_after),
        "threads": "/".join(str(t) for t in threads) or "?",
    }
    steps = None
    if profilers:
        for profiler in profilers:
            profiler.flamegraph()
        roles = {p.name.rsplit("-", 1)[1]: p for p in profilers}
        table = breakdown_table({role: p.breakdown(role) for role, p in roles.items()}, per_upload)
        steps = (tag, table)
        (profile_dir / f"{tag}-breakdown.txt").write_text(table + "\n")
        log(f"profile of {tag}:\n{table}")
    return row, steps


# --- Part 3: the original demo --------------------------------------------------------------------------------------

class DemoClients(Clients):
    """The same photos POSTed to the demo, which answers synchronously; `request_ms` is each upload's whole latency."""

    def __init__(self, base_url, photos, uploads, clients):
        super().__init__(base_url, uploads, clients, 0)
        self.photos = photos
        self.request_ms = []
        self.errors = []

    def _one(self, index):
        import requests

        label, path = self.photos[index % len(self.photos)]
        started = time.perf_counter()
        with open(path, "rb") as handle:
            response = requests.post(f"{self.base_url}/", files={"image": (path.name, handle, "image/jpeg")}, timeout=300)
        with self.lock:
            if response.status_code == 200:
                self.request_ms.append((time.perf_counter() - started) * 1000)
            else:
                self.errors.append(response.status_code)


def demo_table(args):
    import subprocess

    import requests

    workdir = Path(tempfile.mkdtemp(prefix="petsite-demo-"))
    port = harness.free_port()
    env = dict(os.environ, DEMO_DIR=str(workdir), TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    workers = args.demo_workers or os.cpu_count() or 1
    command = [str(harness.VENV_BIN / "gunicorn"), "bench.demo_app:app", "-k", "sync", "-w", str(workers),
               "-b", f"127.0.0.1:{port}", "--timeout", "300"]
    with open(workdir / "demo.log", "ab") as log_file:
        proc = subprocess.Popen(command, cwd=harness.REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        photos = sample_photos(8)
        harness.wait_for(lambda: _answers(url), 180, "demo app")
        log(f"--- original demo: gunicorn {workers} sync workers, {args.demo_uploads} uploads from {args.clients} clients unpaced")
        DemoClients(url, photos, 4 * workers, workers).run()  # every worker loads its model and runs predict once
        clients = DemoClients(url, photos, args.demo_uploads, args.clients)
        cpu = ProcessCpu({"demo": proc.pid}).start()
        clients.run()
        used = cpu.stop()["demo"]
    finally:
        import signal

        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(Exception):
            proc.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(workdir, ignore_errors=True)
    row = {
        "done": len(clients.request_ms), "errors": len(clients.errors), "photos/s": len(clients.request_ms) / clients.seconds,
        "p50": percentile(clients.request_ms, 50), "p99": percentile(clients.request_ms, 99),
        "cpu ms/photo": used * 1000.0 / max(len(clients.request_ms), 1),
    }
    print(f"\nOriginal demo (bench/demo_app.py: save, RGBA thumbnail 240 PNG, load_img, /255, seed model.predict; "
          f"gunicorn {workers} sync workers, {args.clients} clients unpaced; latency = whole request, ms)")
    print(" | ".join(f"{h:>12}" for h in row))
    print(" | ".join(f"{v:>12.1f}" if isinstance(v, float) else f"{v!s:>12}" for v in row.values()))
    return row


def _answers(url):
    import requests

    try:
        return requests.get(url, timeout=120).status_code == 200
    except requests.RequestException:
        return False


def ratio_table(serving_rows, demo_row):
    print("\nSite vs the original demo (same photos, same clients, same run)")
    for row in serving_rows:
        print(f"  {row['backend']:>11} {row['processes']} proc {row['rate']:>8}: {row['pred/s']:7.1f} pred/s = "
              f"{row['pred/s'] / demo_row['photos/s']:5.1f}x the demo's {demo_row['photos/s']:.1f}/s; p50 {row['p50']:7.1f} ms vs "
              f"{demo_row['p50']:7.1f} ms ({demo_row['p50'] / row['p50']:5.1f}x lower)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "training" / "default_model" / "model.keras"))
    parser.add_argument("--uploads", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rate", type=lambda s: [float(x) for x in s.split(",")], default=[0.0, 40.0],
                        help="uploads per second over all clients, comma-separated: one load each (0: unpaced)")
    parser.add_argument("--worker-processes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    parser.add_argument("--threads", type=int, default=0,
                        help="force PETSITE_INFERENCE_THREADS (default 0: each process sizes itself, cores // processes)")
    parser.add_argument("--backend", type=_backends, default=["auto"],
                        help="inference backends of the workers, comma-separated (auto, litert, litert-int8, keras): one load each")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--drain-timeout", type=float, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the work directory and logs")
    parser.add_argument("--profile", action="store_true", help="py-spy the web and worker processes: flame graphs + breakdown")
    parser.add_argument("--profile-dir", help="where --profile writes (default: a folder in the work directory, printed)")
    parser.add_argument("--demo-uploads", type=int, default=300)
    parser.add_argument("--demo-workers", type=int, default=0, help="gunicorn sync workers of the demo (0: one per core)")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--skip-models", action="store_true")
    parser.add_argument("--skip-serving", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "petsite.settings")
    import django

    django.setup()
    if not args.skip_models:
        model_table(args.model)
    rows = serving_table(args) if not args.skip_serving else []
    if not args.skip_demo:
        demo = demo_table(args)
        if rows:
            ratio_table(rows, demo)


def _backends(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in ("auto", "litert", "litert-int8", "keras"):
            raise argparse.ArgumentTypeError(f"unknown backend {name!r}")
    return names


if __name__ == "__main__":
    main()
