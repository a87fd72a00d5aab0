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
