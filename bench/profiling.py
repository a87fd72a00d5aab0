"""Where an upload's CPU goes: CPU time of whole process trees from /proc, and py-spy sampling turned into flame graphs
(SVG) and a breakdown by step of the upload path.

- `ProcessCpu(pids)`: CPU seconds (user + system) of processes and their descendants between `start()` and `stop()`.
- `Profiler(name, pid, out_dir)`: `py-spy record` of a process and its children (collapsed stacks, idle threads
  left out), then `flamegraph()` writes `<name>.svg` and `breakdown()` sorts the samples into the steps of STEPS.
"""
import html
import os
import signal
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

PY_SPY = str(Path(sys.executable).with_name("py-spy"))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Steps of one upload, in the order a request and its task go through them, for the web and the worker processes. A
# sample belongs to the first step (in this order) whose pattern is part of a frame of its stack ("function (file"
# prefix or a file part); a sample matching none is "framework / other" (gunicorn, middleware, Celery's loop).
WEB_STEPS = [
    ("result GET (api.get_prediction)", ["get_prediction (classifier/api.py"]),
    ("request parsing (multipart body)", ["django/http/multipartparser.py", "_load_post_and_files", "uploaded_image (classifier/uploads.py"]),
    ("validation decode", ["validate_upload (classifier/uploads.py"]),
    ("thumbnail / display copy", ["_thumbnail_bytes (", "_display_bytes ("]),
    ("storage (file writes)", ["django/core/files/", "django/db/models/fields/files.py"]),
    ("broker publish", ["kombu/", "celery/", "dispatch_on_commit (", "dispatch (petsite/jobs.py"]),
    ("DB writes", ["django/db/", "psycopg/"]),
    ("JSON response", ["json/", "django/http/response.py"]),
]
WORKER_STEPS = [
    ("decode again", ["open_image (ingestion/images.py"]),
    ("thumbnail / display copy", ["_thumbnail_bytes (", "_display_bytes (", "store_copies (", "image_copies ("]),
    ("preprocessing (normalize, fit, pad)", ["image_to_array (", "prepare (training/predictor.py"]),
    ("inference", ["predict_arrays (training/predictor.py", "run (training/litert.py"]),
    ("heat map", ["heatmap", "class_map"]),
    ("storage (file writes)", ["django/core/files/", "django/db/models/fields/files.py"]),
    ("result write", ["_store_outcome_if_pending ("]),
    ("DB reads / claim", ["classify_prediction (classifier/services.py"]),
    ("claim heartbeat", ["_beat (classifier/services.py"]),
    ("beat sweeper", ["requeue_stale_pending", "celery/beat.py"]),
    ("task pick-up (broker, Celery)", ["kombu/", "celery/", "billiard/"]),
]
STEPS = {"web": WEB_STEPS, "worker": WORKER_STEPS}
# CPU sampled outside any step of the upload path.
OTHER = "framework / other"


def descendants(pid):
    """pid and every process below it."""
    children = defaultdict(list)
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children[int(fields[1])].append(int(status.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pid):
    """User + system CPU seconds of one process (its own threads; children reaped count in cutime, not read)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class ProcessCpu:
    """CPU seconds used by named process trees between start() and stop(): {name: seconds}."""

    def __init__(self, roots):
        self.roots = roots  # name -> root pid (or a list of root pids)
        self.before = {}
        self.used = {}

    def _sample(self):
        sample = {}
        for name, roots in self.roots.items():
            for root in roots if isinstance(roots, (list, tuple)) else [roots]:
                for pid in descendants(root):
                    sample[(name, pid)] = cpu_seconds(pid)
        return sample

    def start(self):
        self.before = self._sample()
        return self

    def stop(self):
        after = self._sample()
        used = Counter()
        for (name, pid), seconds in after.items():
            used[name] += seconds - self.before.get((name, pid), 0.0)
        self.used = dict(used)
        return self.used


class Profiler:
    """py-spy sampling one process tree into collapsed stacks (`<out_dir>/<name>.folded`)."""

    def __init__(self, name, pid, out_dir, rate=100):
        self.name, self.pid, self.rate = name, pid, rate
        self.out_dir = Path(out_dir)
        self.folded = self.out_dir / f"{name}.folded"
        self.proc = None

    def start(self):
        self.out_dir.mkdir(parents=True, exist_ok=True)
        command = [PY_SPY, "record", "--pid", str(self.pid), "--subprocesses", "--rate", str(self.rate), "--format", "raw",
                   "--output", str(self.folded), "--nonblocking"]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        return self

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            _, stderr = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, stderr = self.proc.communicate()
        if not self.folded.exists():
            raise RuntimeError(f"py-spy wrote no profile for {self.name}: {stderr.decode(errors='replace')[-500:]}")

    def stacks(self):
        """{stack (frames root first, ';'-joined): samples}."""
        counts = Counter()
        for line in self.folded.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                counts[stack] += int(count)
        return counts

    def breakdown(self, role):
        """{step: samples} over STEPS[role] ("web" or "worker"), plus OTHER."""
        return categorize(self.stacks(), STEPS[role])

    def flamegraph(self, title=None):
        path = self.out_dir / f"{self.name}.svg"
        path.write_text(render_svg(self.stacks(), title or f"{self.name} (py-spy, {self.rate} Hz)"))
        return path


def categorize(stacks, steps_list):
    steps = Counter()
    for stack, count in stacks.items():
        frames = stack.split(";")
        step = next((name for name, patterns in steps_list if any(p in frame for frame in frames for p in patterns)), OTHER)
        steps[step] += count
    return steps


def render_svg(stacks, title, width=1600, row=16):
    """A plain flame graph (root at the bottom, width = samples, hover titles), from collapsed stacks."""
    tree = {"name": "all", "count": 0, "children": {}}
    for stack, count in stacks.items():
        node = tree
        node["count"] += count
        for frame in stack.split(";"):
            node = node["children"].setdefault(frame, {"name": frame, "count": 0, "children": {}})
            node["count"] += count
    total = tree["count"] or 1
    rects = []

    def depth_of(node):
        return 1 + max((depth_of(child) for child in node["children"].values()), default=0)

    depth = depth_of(tree)
    height = (depth + 2) * row + 20

    def walk(node, x, level):
        w = node["count"] / total * width
        if w < 0.3:
            return
        y = height - (level + 1) * row - 10
        hue = (hash(node["name"].split(" (")[0]) % 60) + 10
        label = html.escape(node["name"])
        text = html.escape(node["name"].split(" (")[0][: int(w / 7)]) if w > 21 else ""
        rects.append(
            f'<g><title>{label} ({node["count"]} samples, {100.0 * node["count"] / total:.2f}%)</title>'
            f'<rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{row - 1}" fill="hsl({hue},85%,60%)"/>'
            f'<text x="{x + 3:.2f}" y="{y + row - 4}" font-size="11" font-family="monospace">{text}</text></g>'
        )
        child_x = x
        for child in sorted(node["children"].values(), key=lambda c: c["name"]):
            walk(child, child_x, level + 1)
            child_x += child["count"] / total * width

    walk(tree, 0.0, 0)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f'<rect width="100%" height="100%" fill="#fff"/><text x="8" y="16" font-size="14" font-family="sans-serif">'
        f'{html.escape(title)} - {total} samples</text>' + "".join(rects) + "</svg>\n"
    )


def breakdown_table(breakdowns, cpu_ms):
    """Text table of CPU ms per upload for each step of each role: py-spy's share of the step times the role's CPU per
    upload measured from /proc (`cpu_ms[role]`). py-spy counts a thread waiting for a CPU as busy, so on a loaded machine
    shares are of busy time, the totals are real CPU."""
    lines = [f"{'role':6} | {'step':38} | {'ms/upload':>9} | {'share':>6}"]
    for role, samples in breakdowns.items():
        total = sum(samples.values()) or 1
        for step in [name for name, _ in STEPS[role]] + [OTHER]:
            if samples.get(step):
                share = samples[step] / total
                lines.append(f"{role:6} | {step:38} | {share * cpu_ms[role]:9.2f} | {100 * share:5.1f}%")
        lines.append(f"{role:6} | {'all (CPU from /proc)':38} | {cpu_ms[role]:9.2f} | {100.0:5.1f}%")
    return "\n".join(lines)
