"""Dataset versions: built through one service (admin job, rebuild_dataset --name), immutable, diffed, stable split,
one build at a time, failures that leave earlier versions untouched."""
import errno
import shutil
import threading
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse
from PIL import Image

from ingestion import dataset, selectors, services
from ingestion.dataset import read_manifest, split_of
from ingestion.hashing import sha256_hex
from ingestion.images import image_to_array, open_image
from ingestion.labels import CLASSES
from ingestion.models import DatasetVersion, ImmutableDatasetVersion, PhotoSplit
from petsite import jobs
from tests.conftest import pet_photos

from . import conftest
from .conftest import reencoded

pytestmark = pytest.mark.django_db
PER_CLASS = 3


@pytest.fixture(autouse=True)
def small_builds(settings, tmp_path):
    settings.PETSITE_DATASETS_ROOT = tmp_path / "datasets"
    settings.PETSITE_DATASET_MIN_PER_CLASS = 2
    settings.PETSITE_DATASET_EXTRA_SOURCES = []


def make_source(root, per_class=PER_CLASS, skip=0, classes=CLASSES):
    return conftest.make_source(root, per_class=per_class, classes=classes, skip=skip)


def build(name, *folders, **options):
    version = services.create_dataset_version(name, [str(folder) for folder in folders], **options)
    return services.run_dataset_build(version.pk)


def test_rebuild_dataset_name_records_a_version_with_counts_digest_and_whole_photos(tmp_path, capsys):
    source = make_source(tmp_path / "src")
    call_command("rebuild_dataset", "--source", str(source), "--name", "v1", "--workers", "1")
    out = capsys.readouterr().out
    assert "Built dataset version v1" in out

    version = DatasetVersion.objects.get(name="v1")
    folder = selectors.dataset_version_path("v1")
    manifest = read_manifest(folder)
    assert (version.status, version.building, version.photo_count) == ("built", None, 6 * PER_CLASS)
    assert version.digest == manifest["digest"] and version.counts == manifest["counts"]
    assert version.previous is None and version.folders == [str(source)]
    assert sum(version.counts["cat"].values()) == PER_CLASS
    # The layout training reads, photos whole (not squares), long side at most 512 px, lossless.
    entry = manifest["files"][0]
    assert entry["file"].startswith(("train/", "test/")) and (folder / entry["file"]).is_file()
    with Image.open(folder / entry["file"]) as image:
        assert image.format == "PNG"
        assert image.size == open_image(entry["source"]).size  # whole photo, its own size (these are under 512 px)
    # What a model sees from the stored copy is exactly what it sees at serving from the original.
    for size in (32, 288):
        assert (image_to_array(open_image(folder / entry["file"]), size) == image_to_array(open_image(entry["source"]), size)).all()
    assert manifest["size"] is None and manifest["max_side"] == 512
    assert set(PhotoSplit.objects.values_list("sha256", flat=True)) >= {e["sha256"] for e in manifest["files"]}


def test_frame_keeps_the_old_fit_and_pad_view(tmp_path):
    version = build("framed", make_source(tmp_path / "src", per_class=2), frame=48)
    entry = read_manifest(selectors.dataset_version_path("framed"))["files"][0]
    with Image.open(selectors.dataset_version_path("framed") / entry["file"]) as image:
        assert image.size == (48, 48)
    assert version.frame == 48


def test_a_built_version_is_immutable_and_names_are_never_reused(tmp_path):
    source = make_source(tmp_path / "src", per_class=2)
    version = build("v1", source)
    version.name = "renamed"
    with pytest.raises(ImmutableDatasetVersion):
        version.save()
    with pytest.raises(services.BuildRefused, match="already exists"):
        services.create_dataset_version("v1", [str(source)])
    with pytest.raises(CommandError, match="already exists"):
        call_command("rebuild_dataset", "--source", str(source), "--name", "v1", verbosity=0)


def test_the_diff_counts_photos_added_and_removed_per_class_and_split(tmp_path):
    first = make_source(tmp_path / "one", per_class=PER_CLASS, skip=1)  # photos 2..3 of each class
    v1 = build("v1", first)
    second = make_source(tmp_path / "two", per_class=PER_CLASS)  # photos 1..3
    (second / "dog" / pet_photos("dog", PER_CLASS)[2].name).unlink()  # one dog photo gone
    v2 = build("v2", second)

    assert v2.previous == v1
    before, after = read_manifest(selectors.dataset_version_path("v1")), read_manifest(selectors.dataset_version_path("v2"))
    for label in CLASSES:
        for split in ("train", "test"):
            old = {e["sha256"] for e in before["files"] if e["label"] == label and e["split"] == split}
            new = {e["sha256"] for e in after["files"] if e["label"] == label and e["split"] == split}
            assert v2.diff[label][split] == {"added": len(new - old), "removed": len(old - new)}
    assert sum(v2.diff[label][split]["added"] for label in CLASSES for split in ("train", "test")) == 6
    assert sum(v2.diff["dog"][split]["removed"] for split in ("train", "test")) == 1
    # Every photo of v1 still there is in the same split.
    old_splits = {e["sha256"]: e["split"] for e in before["files"]}
    assert all(old_splits[e["sha256"]] == e["split"] for e in after["files"] if e["sha256"] in old_splits)


def _near_pair_whose_hashes_split_differently():
    """(name, small copy bytes, original bytes): the original is larger (it becomes the kept photo) and its own hash
    would put it in the other split than the small copy's."""
    for photo in pet_photos("cat", 40)[5:]:  # not among the photos make_source copies
        name = photo.stem
        small, original = reencoded(name, scale=0.5), photo.read_bytes()
        if split_of(sha256_hex(small), 1, 0.25) != split_of(sha256_hex(original), 1, 0.25):
            return name, small, original
    pytest.skip("no photo among the first 40 cats splits differently from its copy")


def test_a_near_duplicate_group_stays_in_its_split_when_its_kept_photo_changes(tmp_path):
    name, small, original = _near_pair_whose_hashes_split_differently()
    source = make_source(tmp_path / "src", per_class=2, classes=[c for c in CLASSES])
    (source / "cat" / f"{name}-small.jpg").write_bytes(small)
    v1 = build("v1", source)
    first = {e["sha256"]: e["split"] for e in read_manifest(selectors.dataset_version_path("v1"))["files"]}
    small_split = first[sha256_hex(small)]

    (source / "cat" / f"{name}-original.jpg").write_bytes(original)  # larger: now the kept photo of the group
    v2 = build("v2", source)
    entries = read_manifest(selectors.dataset_version_path("v2"))["files"]
    kept = next(e for e in entries if e["sha256"] == sha256_hex(original))
    assert kept["split"] == small_split != split_of(sha256_hex(original), 1, 0.25)
    assert any(d.get("sha256") == sha256_hex(small) for d in kept["duplicates"])
    assert v2.photo_count == v1.photo_count


def test_one_build_at_a_time(tmp_path):
    source = make_source(tmp_path / "src", per_class=2)
    queued = services.create_dataset_version("first", [str(source)])
    with pytest.raises(services.BuildRefused, match="first is being built"):
        services.create_dataset_version("second", [str(source)])
    with pytest.raises(CommandError, match="first is being built"):
        call_command("rebuild_dataset", "--source", str(source), "--name", "third", verbosity=0)
    assert services.cancel_dataset_builds(DatasetVersion.objects.filter(pk=queued.pk)) == 1
    queued.refresh_from_db()
    assert (queued.status, queued.building) == ("cancelled", None)
    assert build("second", source).status == "built"


@pytest.mark.parametrize("breakage, reason", [
    ("too_few", "Too few photos in hamster (1)"),
    ("deleted", "does not exist"),
    ("empty", "is empty"),
    ("disk_full", "The disk is full"),
])
def test_a_failed_build_says_why_and_leaves_the_previous_version(tmp_path, monkeypatch, breakage, reason):
    source = make_source(tmp_path / "src", per_class=2)
    v1 = build("v1", source)
    before = sorted(p.relative_to(selectors.dataset_version_path("v1")) for p in selectors.dataset_version_path("v1").rglob("*"))

    broken = make_source(tmp_path / "broken", per_class=2)
    if breakage == "too_few":
        next((broken / "hamster").iterdir()).unlink()
    elif breakage == "deleted":
        shutil.rmtree(broken)
    elif breakage == "empty":
        for label in CLASSES:
            for path in (broken / label).iterdir():
                path.unlink()
    else:
        def full(image, path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        monkeypatch.setattr(dataset, "_save_png", full)
    v2 = build("v2", broken)

    assert v2.status == "failed" and reason in v2.error, v2.error
    assert v2.building is None and not (Path(selectors.datasets_root()) / "v2").exists()
    assert [p.name for p in selectors.datasets_root().iterdir()] == ["v1"]  # no leftovers of the failed build
    v1.refresh_from_db()
    assert v1.status == "built" and selectors.latest_built_version() == v1
    assert sorted(p.relative_to(selectors.dataset_version_path("v1")) for p in selectors.dataset_version_path("v1").rglob("*")) == before
    with pytest.raises(selectors.UnknownDatasetVersion, match="failed"):
        selectors.dataset_version_path("v2")


def test_scraped_folder_is_refused_as_a_source(settings, tmp_path):
    with pytest.raises(services.BuildRefused, match="curation"):
        services.create_dataset_version("v1", [str(Path(settings.MEDIA_ROOT) / "scraped")])
    # the plain folder build too: pending and rejected scraped photos must not come along
    make_source(Path(settings.MEDIA_ROOT) / "scraped", per_class=1)
    with pytest.raises(CommandError, match="curation"):
        call_command("rebuild_dataset", "--source", str(Path(settings.MEDIA_ROOT) / "scraped" / "cat" / ".."),
                     "--dest", str(tmp_path / "out"), verbosity=0)
    assert not (tmp_path / "out").exists()


def test_delete_an_unused_version_with_its_files_and_refuse_one_in_use(tmp_path, settings, django_capture_on_commit_callbacks):
    source = make_source(tmp_path / "src", per_class=2)
    v1, v2 = build("v1", source), build("v2", source)
    settings.PETSITE_DATASET_VERSION_USERS = [f"{__name__}.used_by_training"]
    with pytest.raises(services.BuildRefused, match="in use: trained model m1"):
        services.delete_dataset_version(v1)
    settings.PETSITE_DATASET_VERSION_USERS = []
    folder = selectors.dataset_version_path("v2")
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_dataset_version(v2)
    assert not folder.exists() and not DatasetVersion.objects.filter(name="v2").exists()
    assert selectors.dataset_version_path("v1").is_dir()


def used_by_training(version):
    return "trained model m1" if version.name == "v1" else ""


@pytest.mark.django_db(transaction=True)
def test_staff_build_a_version_from_the_admin_on_the_background_worker(client, tmp_path, settings):
    source = make_source(tmp_path / "src", per_class=2)
    staff = get_user_model().objects.create_superuser("staff", "staff@example.com", "pw-for-tests")
    client.force_login(staff)
    form = client.get(reverse("admin:ingestion_datasetversion_add")).content.decode()
    assert "Base photo folders" in form
    # Hold the build queued behind a gate while this thread writes: SQLite's in-memory test database answers
    # "table is locked" to a second writer instead of waiting, as a real database would.
    pool = jobs._local_executor(jobs._kind("ingestion.build_dataset_version"))
    gate = threading.Event()
    pool.submit(gate.wait, 120)
    try:
        response = client.post(reverse("admin:ingestion_datasetversion_add"),
                               {"name": "from-admin", "folders_text": str(source), "frame": ""})
        assert response.status_code == 302, response.content.decode()[:2000]
        refused = client.post(reverse("admin:ingestion_datasetversion_add"),
                              {"name": "second", "folders_text": str(source), "frame": ""})
        version = DatasetVersion.objects.get(name="from-admin")
        assert version.is_active  # queued: the second start is refused with a message
        assert "is being built" in refused.content.decode()
        assert not DatasetVersion.objects.filter(name="second").exists()
    finally:
        gate.set()
    pool.submit(lambda: None).result(timeout=120)
    version.refresh_from_db()
    assert (version.status, version.created_by) == ("built", staff), version.error
    state = client.get(reverse("admin:ingestion_datasetversion_progress"), {"ids": version.pk}).json()["versions"][0]
    assert (state["status"], state["percent"], state["active"]) == ("built", 100, False)
    page = client.get(reverse("admin:ingestion_datasetversion_change", args=[version.pk])).content.decode()
    assert "first version" in page and "Cancel build" not in page


def test_staff_without_delete_permission_cannot_delete_a_version_from_the_admin(client, tmp_path):
    from django.contrib.auth.models import Permission

    version = build("kept", make_source(tmp_path / "src", per_class=2))
    folder = selectors.dataset_version_path("kept")
    viewer = get_user_model().objects.create_user("viewer", "viewer@example.com", "pw-for-tests", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_datasetversion"))
    client.force_login(viewer)
    response = client.post(reverse("admin:ingestion_datasetversion_delete", args=[version.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert DatasetVersion.objects.filter(pk=version.pk).exists() and folder.is_dir()


@pytest.mark.parametrize("name", ["v1\n", "v1\r\n", "v1 ", "\nv1", "-v1", "v1/x", "a" * 81, ""])
def test_a_dataset_version_name_is_refused_unless_it_is_whole_letters_digits_dash_underscore(tmp_path, name):
    with pytest.raises(services.BuildRefused, match="The name must be"):
        services.validate_dataset_version(name, [str(tmp_path)])
    services.validate_dataset_version("v1_x-2", [str(make_source(tmp_path / "src", per_class=2))])


def test_the_add_page_says_the_whole_help_text_and_refuses_a_missing_folder(client, tmp_path):
    """The help text's "<class>/" is shown as text (not taken for a tag); a folder that does not exist is a form error
    naming it, before anything is queued."""
    staff = get_user_model().objects.create_superuser("staff", "staff@example.com", "pw-for-tests")
    client.force_login(staff)
    form = client.get(reverse("admin:ingestion_datasetversion_add")).content.decode()
    assert "One folder per line, each holding &lt;class&gt;/ subfolders." in form

    source = make_source(tmp_path / "src", per_class=2)
    gone = tmp_path / "gone"
    response = client.post(reverse("admin:ingestion_datasetversion_add"),
                           {"name": "missing", "folders_text": f"{source}\n{gone}", "frame": ""})
    assert response.status_code == 200
    assert f"The source folder {gone} does not exist" in response.content.decode()
    assert not DatasetVersion.objects.filter(name="missing").exists()
