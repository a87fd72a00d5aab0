"""resolve_spec: a .keras path is read from its card without the database (commands such as export_litert --path
may run before `migrate`); a name is looked up in the database."""
import pytest

from training.evaluation import resolve_spec


def test_a_keras_path_needs_no_database(tiny_model_path):
    # no django_db mark: any query here fails the test
    spec = resolve_spec(str(tiny_model_path))
    assert str(spec.path) == str(tiny_model_path)
    assert spec.classes


@pytest.mark.django_db
def test_an_unknown_name_is_refused_with_its_name():
    with pytest.raises(ValueError, match="no-such-version"):
        resolve_spec("no-such-version")


def test_a_model_without_a_card_serves_at_the_size_it_was_built_for(tiny_model_path, tmp_path):
    import shutil

    from training.registry import NoModelAvailable, spec_from_file

    bare = tmp_path / "bare.keras"
    shutil.copy(tiny_model_path, bare)  # no bare.json beside it
    spec = spec_from_file(bare)
    assert spec.input_size == 32 and spec.version == "bare"

    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip")
    with pytest.raises(NoModelAvailable, match="input_size"):
        spec_from_file(broken)


@pytest.mark.django_db
def test_package_writes_into_a_folder_or_to_a_keras_path(tiny_model_path, tmp_path):
    import shutil

    from training.models import ModelVersion
    from training.registry import package_version, spec_from_file

    source = tmp_path / "source" / "tiny-v1.2.keras"  # a dotted version name
    source.parent.mkdir()
    shutil.copy(tiny_model_path, source)
    source.with_suffix(".int8.tflite").write_bytes(b"int8 copy")  # stand in for verified exports beside it
    source.with_suffix(".tflite").write_bytes(b"float copy")
    version = ModelVersion.objects.create(name="tiny-v1", architecture="tiny", input_size=32, file_path=str(source))
    folder = tmp_path / "dist"
    folder.mkdir()
    packaged = package_version(version, folder)
    assert packaged == folder / "model.keras" and packaged.read_bytes() == source.read_bytes()
    assert (folder / "model.int8.tflite").read_bytes() == b"int8 copy" and (folder / "model.tflite").read_bytes() == b"float copy"
    assert spec_from_file(packaged).version == "tiny-v1" and spec_from_file(packaged).input_size == 32
    assert package_version(version, tmp_path / "other" / "named.keras") == tmp_path / "other" / "named.keras"
