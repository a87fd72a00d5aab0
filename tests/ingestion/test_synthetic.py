"""Abstract pictures (ingestion.synthetic): the non-pet kind the default recipe adds for pictures with nothing in them."""
import numpy as np

from ingestion.images import image_to_array, open_image
from ingestion.synthetic import ABSTRACT_KIND, STYLES, abstract_image, write_abstract_folder


def test_every_style_is_a_picture_without_edges_or_objects():
    rng = np.random.RandomState(0)
    for style in STYLES:
        picture = abstract_image(rng, style)
        assert picture.mode == "RGB" and 128 <= min(picture.size) and max(picture.size) <= 640
        pixels = np.asarray(picture, dtype="float32")
        if style in ("flat", "gradient", "radial"):
            # neighbouring pixels barely differ: no edges anywhere
            assert np.abs(np.diff(pixels, axis=1)).mean() < 6, style
        if style == "flat":
            assert pixels.std(axis=(0, 1)).max() < 6


def test_the_folder_holds_count_pictures_of_one_kind_the_same_every_time(tmp_path):
    folder = write_abstract_folder(tmp_path / "abstract", 7, seed=3)
    files = sorted((folder / ABSTRACT_KIND).iterdir())
    assert [f.name for f in files] == sorted(f"{ABSTRACT_KIND}{n}.png" for n in range(7))
    first = {f.name: image_to_array(open_image(f), 32) for f in files}
    stamps = {f.name: f.stat().st_mtime_ns for f in files}

    # written once: a second call leaves the files alone; another folder with the same seed holds the same pictures
    write_abstract_folder(folder, 7, seed=3)
    assert {f.name: f.stat().st_mtime_ns for f in (folder / ABSTRACT_KIND).iterdir()} == stamps
    again = write_abstract_folder(tmp_path / "again", 7, seed=3) / ABSTRACT_KIND
    assert all(np.array_equal(first[name], image_to_array(open_image(again / name), 32)) for name in first)
    other_seed = write_abstract_folder(tmp_path / "seed4", 7, seed=4) / ABSTRACT_KIND
    assert not all(np.array_equal(first[name], image_to_array(open_image(other_seed / name), 32)) for name in first)

    # a smaller count leaves no extra pictures behind
    write_abstract_folder(folder, 4, seed=3)
    assert sorted(f.name for f in (folder / ABSTRACT_KIND).iterdir()) == sorted(f"{ABSTRACT_KIND}{n}.png" for n in range(4))
