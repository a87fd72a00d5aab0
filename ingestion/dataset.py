"""Rebuild the training dataset: class folders + reviewed predictions -> a clean, deduplicated, leak-free split.

Input: `<source>/<class>/*` folders (the layout of ../shared/data/pets) and the (path, label) examples of the
functions named in settings.PETSITE_DATASET_EXTRA_SOURCES (reviewed predictions, their label wins; accepted scraped
photos: MEDIA_ROOT/scraped is never a source folder, its pending and rejected photos would come along).
Output: `<dest>/train/<class>/<class><n>.png`, `<dest>/test/<class>/...` and `<dest>/manifest.json`.

- Every photo goes through images.open_image + normalize (long side at most 512 px), the first steps training and
  serving use, and is stored losslessly (PNG), so image_to_array gives a model the same pixels as at serving, at any
  input size. `size=N` keeps the original project's view instead: each photo fitted and padded into an N x N square.
- Exact (SHA-256) and near duplicates are collapsed across the whole input; one is kept. Near means the
  perceptual hash of the photo or of its padded square (which catches crops of one shot) is within
  PETSITE_NEAR_DUPLICATE_DISTANCE bits.
- The split is decided by a seeded hash of each photo's content, not by shuffling, so the same input
  and seed give the same split and adding photos later never moves existing ones between splits. `known_splits`
  (content hash -> split, what earlier builds placed) wins: a near-duplicate group whose kept photo changes stays in
  the split any of its photos was in before.
- The build happens in a temporary sibling directory that is swapped in only when complete.
"""
import hashlib
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils.module_loading import import_string

from .hashing import default_distance, near_duplicate_pairs, perceptual_hash, sha256_hex
from .images import STORED_MAX_SIDE, ImageError, fit_and_pad, normalize, open_image
from .labels import CLASSES

# The split every build uses unless told otherwise: the same seed keeps every photo in its split across builds.
DEFAULT_TEST_RATIO = 0.25
DEFAULT_SPLIT_SEED = 1

MANIFEST = "manifest.json"
SPLITS = ("train", "test")
MANIFEST_VERSION = 2
# The square the second perceptual hash is taken on (crops and reframings of one shot hash alike there).
HASH_FRAME = 240


def declared_example_sources():
    """[(dotted path, function)] named by settings.PETSITE_DATASET_EXTRA_SOURCES: the inputs besides the folders.

    Each function returns (image path, label) pairs. Named in settings, not registered by the apps that provide
    them, so that the link is visible where it is made and ingestion never imports an app above it.
    """
    return [(path, import_string(path)) for path in settings.PETSITE_DATASET_EXTRA_SOURCES]


class DatasetError(ValueError):
    """A dataset cannot be built or read (bad arguments, a leak, an empty split); a failed build changed nothing at dest."""


@dataclass
class _Input:
    path: Path
    label: str
    reviewed: bool  # from an extra source (reviewed predictions): its label wins
    order: int
    sha256: str = ""
    phash: str = ""  # of the upright photo
    phash_fitted: str = ""  # of the padded square the model sees: catches crops and reframings of one shot
    pixels: int = 0
    staged: Path = None
    error: str = ""


@dataclass
class BuildReport:
    dest: Path
    counts: dict  # class -> {"train": n, "test": n}
    inputs: int
    kept: int
    unreadable: list  # (path, reason)
    ignored: list  # (path, reason): folders that are not classes, examples with a non-class label
    exact_duplicates: int
    near_duplicates: int
    cross_split_near_duplicates: int
    label_conflicts: list = field(default_factory=list)
    inputs_by_source: dict = field(default_factory=dict)  # folder path or extra source's dotted path -> photos
    seconds: float = 0.0
    digest: str = ""
    assignments: dict = field(default_factory=dict)  # content hash -> split, of every photo kept or collapsed into one

    @property
    def duplicates_removed(self):
        return self.exact_duplicates + self.near_duplicates

    @property
    def photos_per_second(self):
        return self.inputs / self.seconds if self.seconds else 0.0


def _is_within(path, other):
    return path == other or other in path.parents


def _check_paths(sources, dest):
    for source in sources:
        if not source.is_dir():
            raise DatasetError(f"The source {source} is not a directory.")
        # Swapping dest in would delete a source that lives inside it, or the dataset inside a source.
        if _is_within(source, dest) or _is_within(dest, source):
            raise DatasetError(f"The destination {dest} overlaps the source {source}; choose a separate directory.")
    if dest.exists() and (not dest.is_dir() or (any(dest.iterdir()) and not (dest / MANIFEST).is_file())):
        raise DatasetError(f"{dest} exists and is not a dataset built by this command (no {MANIFEST}); refusing to replace it.")


def _collect(sources, example_sources):
    """Every input photo, the paths left out, and how many photos each folder and extra source gave."""
    inputs, ignored, by_source = [], [], {}
    for source in sources:
        first = len(inputs)
        for folder in sorted(source.iterdir()):
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            if folder.name not in CLASSES:
                ignored.append((str(folder), "not a class folder"))
                continue
            for path in sorted(folder.iterdir()):
                if path.is_file() and not path.name.startswith("."):
                    inputs.append(_Input(path, folder.name, False, len(inputs)))
        by_source[str(source)] = len(inputs) - first
    for name, examples in example_sources:
        first = len(inputs)
        for path, label in examples:
            if label not in CLASSES:
                ignored.append((str(path), f"reviewed label {label!r} is not a pet class"))
                continue
            inputs.append(_Input(Path(path), label, True, len(inputs)))
        by_source[name] = len(inputs) - first
    return inputs, ignored, by_source


def _hash_file(item):
    try:
        item.sha256 = sha256_hex(item.path.read_bytes())
    except OSError as exc:
        item.error = f"cannot be read: {exc.strerror or exc}"


def _save_png(image, path):
    image.save(path, format="PNG")


def _preprocess(item, size, staging):
    """Decode, normalize (or fit and pad into `size`), save the PNG under the staging dir; record hashes or the error.

    A photo that cannot be read is recorded as unreadable; a failure to write (a full disk) fails the build.
    """
    try:
        image = open_image(item.path)
        item.phash = perceptual_hash(image)
        item.pixels = image.width * image.height
        item.phash_fitted = perceptual_hash(fit_and_pad(image, size or HASH_FRAME))
        stored = fit_and_pad(image, size) if size else normalize(image, STORED_MAX_SIDE)
    except ImageError as exc:
        item.error = str(exc)
        return
    except OSError as exc:
        item.error = f"cannot be read: {exc.strerror or exc}"
        return
    item.staged = staging / f"{item.sha256}.png"
    _save_png(stored, item.staged)


class _UnionFind:
    def __init__(self, n):
        self.parent = list(range(n))

    def find(self, i):
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i, j):
        root_i, root_j = self.find(i), self.find(j)
        if root_i != root_j:
            self.parent[max(root_i, root_j)] = min(root_i, root_j)


def split_of(sha256, seed, test_ratio):
    """'test' or 'train', from a seeded hash of the content alone: stable whatever else is in the input."""
    digest = hashlib.sha256(f"{seed}:{sha256}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < test_ratio else "train"


def _near_pairs(items, distance):
    """Index pairs that are near duplicates by either hash (the original picture, or the padded square)."""
    pairs = set(near_duplicate_pairs([item.phash for item in items], distance))
    pairs.update(near_duplicate_pairs([item.phash_fitted for item in items], distance))
    return sorted(pairs)


def _keeper(group):
    """Of items showing the same picture keep a reviewed one (its label wins), else the largest, else the first."""
    return min(group, key=lambda item: (not item.reviewed, -item.pixels, item.order))


def build_dataset(sources, dest, *, test_ratio=DEFAULT_TEST_RATIO, seed=DEFAULT_SPLIT_SEED, size=None, examples=None, workers=1, progress=None,
                  distance=None, known_splits=None, min_per_class=0, example_sources=None, before_swap=None):
    """Build the dataset into a temporary directory and swap it in at `dest`. Returns a BuildReport.

    `size`: None stores each photo whole (long side at most 512 px); N fits and pads it into N x N.
    `examples` ((path, label) pairs) defaults to those of settings.PETSITE_DATASET_EXTRA_SOURCES; `example_sources`
    ([(name, examples)]) gives them by source instead. `progress(done, total)` is called as photos are processed (it
    may raise to stop the build). `known_splits`: content hash -> split of photos placed by earlier builds (they stay).
    `min_per_class`: every class must keep at least this many photos. `before_swap()` is called once built, just
    before `dest` is replaced (it may raise to stop the build). Raises DatasetError before touching `dest` if anything
    is wrong.
    """
    started = time.monotonic()
    sources = [Path(source).resolve() for source in sources]
    dest = Path(dest).resolve()
    if not 0 < test_ratio < 1:
        raise DatasetError("The test ratio must be between 0 and 1.")
    if size is not None and size < 8:
        raise DatasetError("The size must be at least 8 pixels.")
    _check_paths(sources, dest)
    distance = default_distance() if distance is None else distance
    if example_sources is not None:
        example_sources = [(name, list(examples)) for name, examples in example_sources]
    elif examples is None:
        example_sources = [(name, provide()) for name, provide in declared_example_sources()]
    else:
        examples = list(examples)
        example_sources = [("examples given to build_dataset", examples)] if examples else []
    inputs, ignored, inputs_by_source = _collect(sources, example_sources)

    dest.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{dest.name}.building-", dir=dest.parent))
    try:
        report = _build(inputs, ignored, building, sources, test_ratio, seed, size, workers, progress, distance,
                        known_splits or {}, min_per_class)
        report.dest = dest
        report.inputs_by_source = inputs_by_source
        if before_swap is not None:
            before_swap()
        _swap_in(building, dest)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    report.seconds = time.monotonic() - started
    return report


def _build(inputs, ignored, building, sources, test_ratio, seed, size, workers, progress, distance, known_splits,
           min_per_class):
    """Build the dataset into `building` in four phases; returns the BuildReport (without dest and timing)."""
    staging = building / ".staging"
    staging.mkdir()
    groups, conflicts = _collapse_exact_duplicates(inputs, staging, size, workers, progress)
    exact_duplicates = sum(len(group) - 1 for _, group in groups)
    unreadable = [(str(item.path), item.error) for item in inputs if item.error]
    chosen = _collapse_near_duplicates(groups, distance, conflicts)
    near_duplicates = sum(len(near) for _, _, near in chosen)
    counts, files, assignments = _split_and_place(chosen, building, seed, test_ratio, known_splits)
    shutil.rmtree(staging)
    short = [label for label in CLASSES if sum(counts[label].values()) < min_per_class]
    if short:
        raise DatasetError("Too few photos in " + ", ".join(
            f"{label} ({sum(counts[label].values())})" for label in short
        ) + f": every class needs at least {min_per_class} after duplicates are removed.")
    leaks = _cross_split_pairs(chosen, files, distance)
    if leaks:
        raise DatasetError(f"{len(leaks)} near-duplicate pair(s) straddle train and test, e.g. {leaks[0]}; not swapping in.")

    digest = hashlib.sha256(
        "\n".join(f"{entry['file']} {entry['sha256']}" for entry in files).encode()
    ).hexdigest()
    manifest = {
        "version": MANIFEST_VERSION,
        "digest": digest,
        "sources": [str(source) for source in sources],
        "seed": seed,
        "test_ratio": test_ratio,
        "size": size,
        "max_side": None if size else STORED_MAX_SIDE,
        "near_duplicate_distance": distance,
        "classes": list(CLASSES),
        "counts": counts,
        "inputs": len(inputs),
        "exact_duplicates_removed": exact_duplicates,
        "near_duplicates_removed": near_duplicates,
        "cross_split_near_duplicates": len(leaks),
        "unreadable": [{"source": path, "reason": reason} for path, reason in unreadable],
        "ignored": [{"source": path, "reason": reason} for path, reason in ignored],
        "label_conflicts": conflicts,
        "files": files,
    }
    (building / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return BuildReport(
        dest=None, counts=counts, inputs=len(inputs), kept=len(files), unreadable=unreadable, ignored=ignored,
        exact_duplicates=exact_duplicates, near_duplicates=near_duplicates, cross_split_near_duplicates=len(leaks),
        label_conflicts=conflicts, digest=digest, assignments=assignments,
    )


def _label_conflict(keeper, items):
    """The manifest's record of one picture given different folder labels, or None (none, or a reviewed label won)."""
    labels = sorted({item.label for item in items})
    if len(labels) < 2 or keeper.reviewed:
        return None
    return {"sha256": keeper.sha256, "labels": labels, "kept": keeper.label, "sources": [str(item.path) for item in items]}


def _collapse_exact_duplicates(inputs, staging, size, workers, progress):
    """Phase 1: group by content hash, decode each distinct content once -> ([(keeper, group)], label conflicts)."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(_hash_file, inputs))
        by_sha = {}
        for item in inputs:
            if not item.error:
                by_sha.setdefault(item.sha256, []).append(item)
        firsts = [group[0] for group in by_sha.values()]
        done = len(inputs) - len(firsts)
        for _ in pool.map(lambda item: _preprocess(item, size, staging), firsts):
            done += 1
            if progress:
                progress(done, len(inputs))

    groups, conflicts = [], []
    for first, group in ((group[0], group) for group in by_sha.values()):
        if first.error:
            for item in group[1:]:
                item.error = first.error
            continue
        for item in group[1:]:
            item.phash, item.phash_fitted, item.pixels, item.staged = first.phash, first.phash_fitted, first.pixels, first.staged
        keeper = _keeper(group)
        conflict = _label_conflict(keeper, group)
        if conflict:
            conflicts.append(conflict)
        groups.append((keeper, group))
    return groups, conflicts


def _collapse_near_duplicates(groups, distance, conflicts):
    """Phase 2: connect every pair within `distance` bits, keep one picture per cluster.

    Returns [(keeper, exact duplicates, near duplicates)]; appends label conflicts to `conflicts`.
    """
    keepers = [keeper for keeper, _ in groups]
    clusters = _UnionFind(len(keepers))
    for i, j in _near_pairs(keepers, distance):
        clusters.union(i, j)
    members = {}
    for index in range(len(keepers)):
        members.setdefault(clusters.find(index), []).append(index)
    chosen = []
    for indices in members.values():
        cluster = [keepers[index] for index in indices]
        keeper = _keeper(cluster)
        near = [item for item in cluster if item is not keeper]
        exact = [item for index in indices for item in groups[index][1] if item is not keepers[index]]
        conflict = _label_conflict(keeper, cluster)
        if conflict:
            conflicts.append(conflict)
        chosen.append((keeper, exact, near))
    return chosen


def _group_split(keeper, near, known_splits, seed, test_ratio):
    """The split of a near-duplicate group: where its kept photo was before, else where most of its photos were
    (ties: where the earliest input was), else the seeded hash of the kept photo."""
    if keeper.sha256 in known_splits:
        return known_splits[keeper.sha256]
    known = [known_splits[item.sha256] for item in sorted(near, key=lambda item: item.order) if item.sha256 in known_splits]
    if known:
        train, test = known.count("train"), known.count("test")
        return known[0] if train == test else ("train" if train > test else "test")
    return split_of(keeper.sha256, seed, test_ratio)


def _split_and_place(chosen, building, seed, test_ratio, known_splits=None):
    """Phase 3: split (see _group_split), name per class in input order, move into place
    -> (counts, manifest files, {content hash: split} of every photo of every group).

    Sorts `chosen` in input order (the order of the manifest's files).
    """
    known_splits = known_splits or {}
    chosen.sort(key=lambda entry: entry[0].order)
    counts = {label: {split: 0 for split in SPLITS} for label in CLASSES}
    numbers = dict.fromkeys(CLASSES, 0)
    files = []
    assignments = {}
    for keeper, exact, near in chosen:
        split = _group_split(keeper, near, known_splits, seed, test_ratio)
        for item in (keeper, *near):
            assignments.setdefault(item.sha256, split)
        numbers[keeper.label] += 1
        relative = Path(split) / keeper.label / f"{keeper.label}{numbers[keeper.label]}.png"
        (building / relative).parent.mkdir(parents=True, exist_ok=True)
        os.replace(keeper.staged, building / relative)
        counts[keeper.label][split] += 1
        files.append({
            "file": relative.as_posix(),
            "label": keeper.label,
            "split": split,
            "source": str(keeper.path),
            "origin": "reviewed" if keeper.reviewed else "folder",
            "sha256": keeper.sha256,
            "phash": keeper.phash,
            "phash_fitted": keeper.phash_fitted,
            "duplicates": [{"source": str(item.path), "kind": "exact"} for item in exact]
            + [{"source": str(item.path), "kind": "near", "sha256": item.sha256} for item in near],
        })
    return counts, files, assignments


def _cross_split_pairs(chosen, files, distance):
    """Phase 4, the check: the near-duplicate pairs of kept pictures that straddle train and test (must be none)."""
    kept = [keeper for keeper, _, _ in chosen]
    return [(files[i]["file"], files[j]["file"]) for i, j in _near_pairs(kept, distance) if files[i]["split"] != files[j]["split"]]


def _swap_in(building, dest):
    """Replace dest with the finished build: two renames on one file system, the old tree removed last."""
    if dest.exists():
        retired = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
        os.replace(dest, retired / dest.name)
        try:
            os.replace(building, dest)
        except OSError:
            os.replace(retired / dest.name, dest)  # put the old dataset back: never leave dest missing
            shutil.rmtree(retired, ignore_errors=True)
            raise
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(building, dest)


def read_manifest(dest):
    return json.loads((Path(dest) / MANIFEST).read_text())
