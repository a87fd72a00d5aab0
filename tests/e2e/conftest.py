"""Session-scoped live stacks: the real site and a real Celery worker on real Redis, on SQLite or PostgreSQL; the
headless Chromium the browser tests drive."""
import contextlib

import pytest

import harness

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextlib.contextmanager
def staff_page(live_server, client, user, monkeypatch, viewport=None):
    """A Chromium page on `live_server` logged in as `user` (the test client logs in; the browser carries its session
    cookie), for the staff pages' browser tests."""
    from playwright.sync_api import sync_playwright

    client.force_login(user)
    session = client.cookies["sessionid"].value
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # the test reads the database while Playwright's loop runs
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport=viewport) if viewport else browser.new_context()
            context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
            page = context.new_page()
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()


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
