"""Every project management command prints its --help (argparse formats help strings with %, so a bare "%" breaks it)."""
import pytest
from django.core.management import get_commands, load_command_class

PROJECT_APPS = ("classifier", "ingestion", "training")
PROJECT_COMMANDS = sorted((name, app) for name, app in get_commands().items() if app in PROJECT_APPS)


def test_the_project_has_commands():
    assert {"rebuild_dataset", "train", "evaluate", "export_litert", "compare_models", "promote"} <= {
        name for name, _ in PROJECT_COMMANDS}


@pytest.mark.parametrize("name,app", PROJECT_COMMANDS)
def test_help_formats(name, app):
    parser = load_command_class(app, name).create_parser("manage.py", name)
    text = parser.format_help()
    assert f"manage.py {name}" in text
    assert "option_strings" not in text  # a bare "%" makes argparse print the action's dict instead of its help
    unwrapped = "".join(text.split())  # argparse wraps lines at spaces and after hyphens
    for action in parser._actions:
        if action.help and "%(" not in action.help:
            # the help exactly as written (%% is argparse's escape for %), not a garbled "% a" conversion
            assert "".join(action.help.replace("%%", "%").split()) in unwrapped, action.option_strings
