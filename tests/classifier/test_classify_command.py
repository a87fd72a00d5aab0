"""`manage.py classify [--json] PATH...`: the same inference service, no worker, no database needed."""
import json
import math
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from ingestion.labels import CLASSES
from tests.conftest import REPO, pet_photos

PHOTOS = [photo for label in ("bird", "cat", "dog", "dragon", "fish") for photo in pet_photos(label, 4)]
assert len(PHOTOS) == 20


def check_result(row, path):
    assert set(row) == {"path", "label", "confidence", "probabilities"}  # the tiny model has no pet score
    assert row["path"] == str(path)
    assert row["label"] in CLASSES
    assert set(row["probabilities"]) == set(CLASSES)
    assert math.isclose(sum(row["probabilities"].values()), 1.0, abs_tol=1e-3)
    assert 0.0 < row["confidence"] <= 1.0
    assert row["confidence"] == pytest.approx(max(row["probabilities"].values()), abs=1e-6)
    assert row["probabilities"][row["label"]] == pytest.approx(row["confidence"], abs=1e-6)


@pytest.mark.slow
def test_classify_json_20_photos_and_bad_files_without_any_database(tmp_path, tiny_model_path):
    text_file = tmp_path / "notes.jpg"
    text_file.write_text("not a photo\n")
    missing = tmp_path / "gone.jpg"
    no_db = tmp_path / "no-such-dir" / "deeper" / "db.sqlite3"
    paths = [*PHOTOS[:10], text_file, *PHOTOS[10:], missing]
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(PETSITE_SQLITE_PATH=str(no_db), PETSITE_MODEL_PATH=str(tiny_model_path), TF_CPP_MIN_LOG_LEVEL="2",
               TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1", CUDA_VISIBLE_DEVICES="")

    result = subprocess.run([sys.executable, "manage.py", "classify", "--json", *map(str, paths)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=180)

    assert result.returncode == 1, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert len(lines) == len(paths), result.stdout
    rows = [json.loads(line) for line in lines]  # each line is exactly one JSON object
    assert [row["path"] for row in rows] == [str(p) for p in paths]
    for row, path in zip(rows, paths):
        if path in (text_file, missing):
            assert set(row) == {"path", "error"} and row["error"]
        else:
            check_result(row, path)
    assert "not a JPEG, PNG, WebP, HEIC or AVIF" in rows[10]["error"]
    assert "cannot read file" in rows[-1]["error"]
    assert not no_db.parent.exists()  # it never tried to create a database


@pytest.mark.django_db
def test_classify_json_in_process_all_good_exits_normally(capsys):
    call_command("classify", "--json", *map(str, PHOTOS[:3]))
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3
    for row, path in zip(rows, PHOTOS[:3]):
        check_result(row, path)


@pytest.mark.django_db
def test_classify_plain_output_one_line_per_image(capsys, tmp_path):
    from tests.conftest import color_image_bytes

    red = tmp_path / "red.png"
    red.write_bytes(color_image_bytes((230, 20, 20), fmt="PNG"))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(SystemExit) as exit_info:
        call_command("classify", str(red), str(bad), str(PHOTOS[0]))
    assert exit_info.value.code == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    path, label, sure = lines[0].split("\t")
    assert path == str(red) and label == "Cat" and sure.endswith("% sure")
    assert lines[1].startswith(f"{bad}\terror: ")
    assert lines[2].startswith(f"{PHOTOS[0]}\t")


@pytest.mark.django_db
def test_classify_without_a_model_is_a_clear_command_error(settings, tmp_path):
    settings.PETSITE_MODEL_PATH = tmp_path / "missing.keras"
    with pytest.raises(CommandError, match="No model file"):
        call_command("classify", str(PHOTOS[0]))


@pytest.mark.django_db
def test_classify_says_how_sure_as_the_site_does_and_gives_the_pet_score(capsys, settings):
    from classifier.inference import classify_image
    from classifier.selectors import answer_sureness, unsaved_answer

    settings.PETSITE_MODEL_PATH = REPO / "training" / "default_model" / "model.keras"  # has a pet score
    photo = str(PHOTOS[0])
    call_command("classify", photo)
    call_command("classify", "--json", photo)
    text, line = capsys.readouterr().out.splitlines()
    result = classify_image(photo, use_database=False)
    figure = answer_sureness(unsaved_answer(result))
    assert figure == pytest.approx(result.confidence * result.pet_score)  # the site's figure, not the share alone
    assert text.endswith(f"\t{figure * 100:.1f}% sure")
    assert json.loads(line)["pet_score"] == pytest.approx(result.pet_score, abs=1e-6)
