"""Session-scoped live stacks: the real site and a real Celery worker on real Redis, on SQLite or PostgreSQL; the
headless Chromium the browser tests drive."""
import pytest

import harness

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def live_model_path(tmp_path_factory):
    """The tiny test model with class maps (the worker stores heat maps), built by `python -m tests.tiny_model PATH
    --class-maps` as a subprocess."""
    return harness.build_tiny_model(tmp_path_factory.mktemp("live-model") / "tiny.keras", class_maps=True)


def _stack(tmp_path_factory, model_path, database, **kwargs):
    harness.ensure_redis()
    if database == "postgres":
        harness.ensure_postgres()
    stack = harness.LiveStack(tmp_path_factory.mktemp(f"stack-{database}"), model_path, database=database, **kwargs)
    return stack.start()


@pytest.fixture(scope="session")
def sqlite_stack(tmp_path_factory, live_model_path):
    # A small page size so the browser test can page through the history.
    stack = _stack(tmp_path_factory, live_model_path, "sqlite", extra_env={"PETSITE_PAGE_SIZE": "4"})
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def postgres_stack(tmp_path_factory, live_model_path):
    stack = _stack(tmp_path_factory, live_model_path, "postgres")
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium through Playwright, one per test module."""
    from playwright.sync_api import sync_playwright

    # Module scope: the Playwright event loop is gone before any later Django test touches the database.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
