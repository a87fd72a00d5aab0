"""Staff login: failed attempts lock the account and the client out (django-axes), staff or a command unlock."""
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings as project_settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
ATTACKER = "203.0.113.7"
COLLEAGUE = "198.51.100.20"
LOCKED = 429


@pytest.fixture
def staff():
    for name in ("admin", "editor"):
        User.objects.create_user(name, password=PASSWORD, is_staff=True, is_superuser=True)


def log_in(username, password, address):
    """POST the admin login form from `address`; returns (response, client) so callers can check the session."""
    client = Client(REMOTE_ADDR=address)
    response = client.post("/admin/login/?next=/admin/", {"username": username, "password": password})
    return response, client


def is_logged_in(client):
    return client.get("/admin/").status_code == 200


def fail(username, address, times):
    return [log_in(username, "wrong password", address)[0].status_code for _ in range(times)]


def test_the_limit_is_a_few_failures_counted_per_account_and_per_client():
    assert project_settings.AXES_FAILURE_LIMIT == 5
    assert project_settings.AXES_COOLOFF_TIME == timedelta(minutes=30)
    assert project_settings.AXES_LOCKOUT_PARAMETERS == ["username", "ip_address"]
    assert project_settings.AXES_RESET_ON_SUCCESS is True


@pytest.mark.parametrize("debug", [False, True])
def test_failed_logins_lock_the_account_and_the_right_password_is_then_refused(staff, settings, debug):
    settings.DEBUG = debug
    # Below the limit the form comes back; the attempt that reaches it gets the lockout page.
    assert fail("admin", ATTACKER, 5) == [200, 200, 200, 200, LOCKED]

    response, client = log_in("admin", PASSWORD, ATTACKER)
    assert response.status_code == LOCKED and not is_logged_in(client)
    page = response.content.decode()
    assert "Login temporarily locked" in page
    assert "Try again in" in page and "30 minutes" in page
    assert "axes_reset_username admin" in page and "Access attempts" in page

    # The account is locked from every client, not only from the attacker's.
    response, client = log_in("admin", PASSWORD, COLLEAGUE)
    assert response.status_code == LOCKED and not is_logged_in(client)


def test_other_accounts_from_other_clients_are_unaffected(staff):
    fail("admin", ATTACKER, 5)
    response, client = log_in("editor", PASSWORD, COLLEAGUE)
    assert response.status_code == 302 and is_logged_in(client)


def test_a_client_guessing_many_accounts_is_locked_out_of_all_of_them(staff):
    for name in ("root", "staff", "test", "guest", "administrator"):
        log_in(name, "wrong password", ATTACKER)

    response, client = log_in("editor", PASSWORD, ATTACKER)
    assert response.status_code == LOCKED and not is_logged_in(client)
    # The accounts themselves were tried only once each: from elsewhere they still work.
    response, client = log_in("editor", PASSWORD, COLLEAGUE)
    assert response.status_code == 302 and is_logged_in(client)


def test_a_successful_login_starts_the_count_again(staff):
    fail("admin", ATTACKER, 4)
    assert log_in("admin", PASSWORD, ATTACKER)[0].status_code == 302
    assert fail("admin", ATTACKER, 4) == [200] * 4
    assert log_in("admin", PASSWORD, ATTACKER)[0].status_code == 302


def test_the_lockout_ends_after_the_cool_off_time(staff):
    fail("admin", ATTACKER, 5)
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=31))
    response, client = log_in("admin", PASSWORD, ATTACKER)
    assert response.status_code == 302 and is_logged_in(client)


def test_reset_command_unlocks_the_account(staff):
    fail("admin", ATTACKER, 5)
    call_command("axes_reset_username", "admin", verbosity=0)
    response, client = log_in("admin", PASSWORD, COLLEAGUE)
    assert response.status_code == 302 and is_logged_in(client)


def test_reset_command_unlocks_a_client(staff):
    for name in ("root", "staff", "test", "guest", "administrator"):
        log_in(name, "wrong password", ATTACKER)
    call_command("axes_reset_ip", ATTACKER, verbosity=0)
    response, client = log_in("editor", PASSWORD, ATTACKER)
    assert response.status_code == 302 and is_logged_in(client)


def test_another_staff_member_unlocks_the_account_in_the_admin(staff):
    fail("admin", ATTACKER, 5)
    colleague = Client(REMOTE_ADDR=COLLEAGUE)
    colleague.force_login(User.objects.get(username="editor"))

    changelist = colleague.get("/admin/axes/accessattempt/")
    assert changelist.status_code == 200 and "admin" in changelist.content.decode()
    attempt = AccessAttempt.objects.get(username="admin")
    response = colleague.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert response.status_code == 302 and not AccessAttempt.objects.exists()

    response, client = log_in("admin", PASSWORD, ATTACKER)
    assert response.status_code == 302 and is_logged_in(client)
