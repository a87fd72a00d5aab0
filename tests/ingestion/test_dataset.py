"""rebuild_dataset / build_dataset on real photos from ../shared/data/pets (copied into tmp dirs, small --size)."""
import json
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from ingestion import dataset
from ingestion.dataset import DatasetError, build_dataset, read_manifest, split_of
from tests.conftest import PETS, pet_photos

from .conftest import make_source, reencoded, serve_flickr

SIZE = 32


def split_by_sha(dest):
    return {entry["sha256"]: (entry["split"], entry["label"]) for entry in read_manifest(dest)["files"]}


def tree(dest):
    return sorted(str(path.relative_to(dest)) for path in Path(dest).rglob("*") if path.is_file())


def build(source, dest, **kwargs):
    kwargs.setdefault("examples", [])
    kwargs.setdefault("size", SIZE)
    return build_dataset([source], dest, **kwargs)


def test_layout_manifest_and_counts(tmp_path):
    source = make_source(tmp_path / "src")
    report = build(source, tmp_path / "data")

    dest = tmp_path / "data"
    manifest = read_manifest(dest)
    files = tree(dest)
    assert "manifest.json" in files
    assert report.inputs == report.kept == 24 and report.duplicates_removed == 0
    for label in ("cat", "dog", "hamster"):
        on_disk = {split: len(list((dest / split / label).glob("*.png"))) for split in ("train", "test")}
        assert on_disk == manifest["counts"][label] == report.counts[label]
        assert sum(on_disk.values()) == 8
    names = sorted(Path(entry["file"]).name for entry in manifest["files"] if entry["label"] == "cat")
    assert names == sorted(f"cat{n}.png" for n in range(1, 9))
    entry = manifest["files"][0]
    assert set(entry) >= {"file", "label", "split", "source", "sha256", "phash", "duplicates"}
    assert Path(entry["source"]).parent.parent == source.resolve()
    with Image.open(dest / entry["file"]) as image:
        assert (image.size, image.mode, image.format) == ((SIZE, SIZE), "RGB", "PNG")
    assert (manifest["seed"], manifest["size"], manifest["test_ratio"]) == (1, SIZE, 0.25)
    assert not (dest / ".staging").exists()


def test_same_input_and_seed_give_the_identical_split(tmp_path):
    source = make_source(tmp_path / "src")
    build(source, tmp_path / "one", seed=7)
    build(source, tmp_path / "two", seed=7)
    build(source, tmp_path / "other", seed=8)

    assert tree(tmp_path / "one") == tree(tmp_path / "two")
    assert (tmp_path / "one" / "manifest.json").read_bytes() == (tmp_path / "two" / "manifest.json").read_bytes()
    for path in tree(tmp_path / "one"):
        assert (tmp_path / "one" / path).read_bytes() == (tmp_path / "two" / path).read_bytes()
    assert split_by_sha(tmp_path / "one") != split_by_sha(tmp_path / "other")


def test_adding_photos_never_moves_existing_ones(tmp_path):
    source = make_source(tmp_path / "src", per_class=10, skip=4)
    build(source, tmp_path / "data")
    before = split_by_sha(tmp_path / "data")
    make_source(source, per_class=10)  # the 4 left-out photos per class arrive
    build(source, tmp_path / "data")
    after = split_by_sha(tmp_path / "data")

    assert len(before) == 18 and len(after) == 30
    assert {sha: after[sha] for sha in before} == before


def test_split_is_about_three_to_one():
    splits = [split_of(f"{n:064x}", 1, 0.25) for n in range(4000)]
    assert 0.22 < splits.count("test") / len(splits) < 0.28


def test_exact_and_near_duplicates_are_collapsed_and_never_straddle(tmp_path):
    source = make_source(tmp_path / "src")
    cats = pet_photos("cat", 8)
    shutil.copy(cats[0], source / "cat" / "copy-of-first.jpg")  # exact
    (source / "cat" / "smaller-second.jpg").write_bytes(reencoded(cats[1].stem, scale=0.6))  # near, same class
    (source / "dog" / "webp-third.webp").write_bytes(reencoded(cats[2].stem, scale=1, fmt="WEBP"))  # near, other class
    report = build(source, tmp_path / "data")

    assert (report.inputs, report.kept) == (27, 24)
    assert (report.exact_duplicates, report.near_duplicates, report.cross_split_near_duplicates) == (1, 2, 0)
    manifest = read_manifest(tmp_path / "data")
    assert manifest["cross_split_near_duplicates"] == 0
    dropped = {Path(dup["source"]).name: dup["kind"] for entry in manifest["files"] for dup in entry["duplicates"]}
    # The largest version of a picture is the one kept.
    assert dropped == {"copy-of-first.jpg": "exact", "smaller-second.jpg": "near", "webp-third.webp": "near"}
    assert report.counts["cat"]["train"] + report.counts["cat"]["test"] == 8
    assert len(manifest["label_conflicts"]) == 1  # the cat that also sat in dog/


def test_the_leak_check_refuses_to_swap_in_a_straddling_pair(tmp_path, monkeypatch):
    source = make_source(tmp_path / "src", per_class=4, classes=("cat",))
    first = pet_photos("cat", 1)[0]
    (source / "cat" / "near.jpg").write_bytes(reencoded(first.stem, scale=0.8))
    # Pick a seed that puts the photo and its re-encode on different sides, then disable the clustering.
    from ingestion.hashing import sha256_hex

    shas = sha256_hex(first.read_bytes()), sha256_hex((source / "cat" / "near.jpg").read_bytes())
    seed = next(seed for seed in range(1000) if split_of(shas[0], seed, 0.25) != split_of(shas[1], seed, 0.25))
    monkeypatch.setattr(dataset._UnionFind, "union", lambda self, i, j: None)

    with pytest.raises(DatasetError, match="straddle train and test"):
        build(source, tmp_path / "data", seed=seed)
    assert not (tmp_path / "data").exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing half-built left


def test_heic_and_avif_photos_in_a_source_folder_are_read(tmp_path):
    source = make_source(tmp_path / "src", per_class=4, classes=("cat", "dog"))
    (source / "cat" / "IMG_0001.HEIC").write_bytes(reencoded("cat_105", scale=1, fmt="HEIF"))
    (source / "dog" / "web-photo.avif").write_bytes(reencoded("dog_105", scale=1, fmt="AVIF"))
    report = build(source, tmp_path / "data")

    assert report.unreadable == [] and report.kept == 10
    stored = {Path(entry["source"]).name: entry for entry in read_manifest(tmp_path / "data")["files"]}
    for name, label in (("IMG_0001.HEIC", "cat"), ("web-photo.avif", "dog")):
        assert stored[name]["label"] == label
        with Image.open(tmp_path / "data" / stored[name]["file"]) as image:
            assert (image.format, image.size) == ("PNG", (SIZE, SIZE))


def test_unreadable_files_are_skipped_and_reported(tmp_path):
    source = make_source(tmp_path / "src", per_class=4, classes=("cat", "dog"))
    (source / "cat" / "notes.txt").write_text("not a photo")
    (source / "dog" / "truncated.jpg").write_bytes(pet_photos("dog", 5)[4].read_bytes()[:2000])
    (source / "dog" / "truncated-again.jpg").write_bytes(pet_photos("dog", 5)[4].read_bytes()[:2000])
    (source / "cat" / ".DS_Store").write_bytes(b"\0\0")
    (source / "README").mkdir()  # not a class: ignored, not an error
    report = build(source, tmp_path / "data")

    assert report.kept == 8
    unreadable = {Path(path).name: reason for path, reason in report.unreadable}
    assert set(unreadable) == {"notes.txt", "truncated.jpg", "truncated-again.jpg"}
    assert "not a JPEG, PNG, WebP, HEIC or AVIF" in unreadable["notes.txt"]
    assert "damaged or truncated" in unreadable["truncated.jpg"]
    manifest = read_manifest(tmp_path / "data")
    assert {Path(item["source"]).name for item in manifest["unreadable"]} == set(unreadable)
    assert [Path(item["source"]).name for item in manifest["ignored"]] == ["README"]


def test_a_failed_rebuild_leaves_the_previous_dataset_untouched(tmp_path, monkeypatch):
    source = make_source(tmp_path / "src", per_class=6)
    dest = tmp_path / "data"
    build(source, dest)
    before = {path: (dest / path).read_bytes() for path in tree(dest)}

    make_source(source, per_class=8)
    calls = {"n": 0}
    real_fit = dataset.fit_and_pad

    def failing_fit(image, size):
        calls["n"] += 1
        if calls["n"] == 10:
            raise RuntimeError("disk full")
        return real_fit(image, size)

    monkeypatch.setattr(dataset, "fit_and_pad", failing_fit)
    with pytest.raises(RuntimeError, match="disk full"):
        build(source, dest, workers=2)

    assert {path: (dest / path).read_bytes() for path in tree(dest)} == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no half-built or retired copies left
    assert sorted(p.name for p in source.rglob("*.jpg")) == sorted(p.name for label in ("cat", "dog", "hamster") for p in pet_photos(label, 8))


def test_a_failed_swap_puts_the_previous_dataset_back(tmp_path, monkeypatch):
    import os

    source = make_source(tmp_path / "src", per_class=6)
    dest = tmp_path / "data"
    build(source, dest)
    before = {path: (dest / path).read_bytes() for path in tree(dest)}
    real_replace = os.replace

    def failing_swap(src, dst):
        if Path(dst) == dest and Path(src).name != dest.name:  # the finished build moving into place
            raise OSError("device busy")
        return real_replace(src, dst)

    monkeypatch.setattr(dataset.os, "replace", failing_swap)
    with pytest.raises(OSError, match="device busy"):
        build(source, dest)

    assert {path: (dest / path).read_bytes() for path in tree(dest)} == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".") and "old" in p.name]


def test_refuses_to_replace_a_directory_it_did_not_build_or_that_overlaps_a_source(tmp_path):
    source = make_source(tmp_path / "src", per_class=2, classes=("cat",))
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.pdf").write_text("do not delete")
    with pytest.raises(DatasetError, match="not a dataset built by this command"):
        build(source, precious)
    with pytest.raises(DatasetError, match="overlaps"):
        build(source, source / "dataset")
    with pytest.raises(DatasetError, match="overlaps"):
        build(source, tmp_path)
    assert (precious / "thesis.pdf").read_text() == "do not delete"


EXTRA_EXAMPLES = []


def extra_examples():
    """An extra dataset source, named in PETSITE_DATASET_EXTRA_SOURCES by the test below."""
    return EXTRA_EXAMPLES


@pytest.mark.django_db
def test_declared_extra_source_examples_are_included_and_their_label_wins(tmp_path, settings, monkeypatch):
    source = make_source(tmp_path / "src", per_class=4, classes=("cat", "dog"))
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    relabelled = uploads / "upload-1"  # the same bytes as a photo in cat/, reviewed as a dog
    shutil.copy(pet_photos("cat", 1)[0], relabelled)
    extra = uploads / "upload-2"
    shutil.copy(pet_photos("fish", 1)[0], extra)
    not_a_pet = uploads / "upload-3"
    shutil.copy(pet_photos("bird", 1)[0], not_a_pet)

    monkeypatch.setattr(f"{__name__}.EXTRA_EXAMPLES", [(str(relabelled), "dog"), (extra, "fish"), (not_a_pet, "unknown")])
    settings.PETSITE_DATASET_EXTRA_SOURCES = [f"{__name__}.extra_examples"]
    report = build_dataset([source], tmp_path / "data", size=SIZE)

    entries = {Path(entry["source"]).name: entry for entry in read_manifest(tmp_path / "data")["files"]}
    assert entries["upload-1"]["label"] == "dog" and entries["upload-1"]["origin"] == "reviewed"
    assert entries["upload-2"]["label"] == "fish"
    assert pet_photos("cat", 1)[0].name not in entries  # the folder copy is the duplicate
    assert "upload-3" not in entries and any("upload-3" in path for path, _ in report.ignored)
    assert (report.counts["cat"]["train"] + report.counts["cat"]["test"], report.counts["fish"]["test"] + report.counts["fish"]["train"]) == (3, 1)
    assert report.inputs_by_source == {str(source.resolve()): 8, f"{__name__}.extra_examples": 2}


def test_reviewed_predictions_are_a_dataset_source_declared_in_settings():
    from classifier.selectors import reviewed_photos_for_dataset

    sources = dict(dataset.declared_example_sources())
    assert sources["classifier.selectors.reviewed_photos_for_dataset"] is reviewed_photos_for_dataset


def test_rebuild_dataset_command_prints_a_table(tmp_path, capsys):
    source = make_source(tmp_path / "src", per_class=4, classes=("cat", "dog"))
    call_command(
        "rebuild_dataset", "--source", str(source), "--dest", str(tmp_path / "data"), "--size", "24",
        "--seed", "3", "--test-ratio", "0.5", "--workers", "1", "--no-reviewed",
    )
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.split()}
    assert lines["class"] == ["train", "test", "total"]
    assert sum(map(int, lines["cat"][:2])) == 4 and lines["cat"][2] == "4" and lines["total"][2] == "8"
    assert lines["bird"] == ["0", "0", "0"]
    assert "cross-split near-duplicates: 0" in out
    assert f"inputs: 8 from {source.resolve()}" in out
    assert "left out (--no-reviewed): classifier.selectors.reviewed_photos_for_dataset" in out
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text())
    assert (manifest["seed"], manifest["test_ratio"], manifest["size"]) == (3, 0.5, 24)

    with pytest.raises(CommandError, match="not a directory"):
        call_command("rebuild_dataset", "--source", str(tmp_path / "nope"), "--dest", str(tmp_path / "x"), verbosity=0)


@pytest.mark.django_db
def test_scraped_photos_feed_the_rebuild(tmp_path, site, settings):
    from ingestion import services

    serve_flickr(site)
    services.run_scrape_job(services.create_scrape_job("flickr", "cat", "cat", 100, base_url=site.base_url).pk)
    report = build_dataset([Path(settings.MEDIA_ROOT) / "scraped"], tmp_path / "data", size=SIZE, examples=[])
    assert report.kept == 7 and report.duplicates_removed == 0


def test_a_recropped_shot_is_caught_by_the_padded_hash(tmp_path):
    """Two real files of one hamster photo, cropped differently: far apart by the photo's own pHash (14 bits),
    close once fitted and padded the way the model sees them."""
    source = tmp_path / "src" / "hamster"
    source.mkdir(parents=True)
    for name in ("hamster_215.jpg", "hamster_48.jpg"):
        shutil.copy(PETS / "hamster" / name, source / name)
    report = build(tmp_path / "src", tmp_path / "data", size=64)
    assert (report.kept, report.near_duplicates) == (1, 1)
