"""What every part of the harness shares: where the repository and its tools are, waiting, free ports, the one error."""
import socket
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = REPO / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
CELERY = str(VENV_BIN / "celery") if (VENV_BIN / "celery").exists() else "celery"


class ServiceUnavailable(RuntimeError):
    """A required service (Redis, PostgreSQL, the site, a worker) could not be started or reached."""


def wait_for(check, timeout, what):
    """Poll `check()` every 0.2 s until it is true; raise ServiceUnavailable naming `what` (and the last error) after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # keep polling; report the last reason
            last = exc
        time.sleep(0.2)
    raise ServiceUnavailable(f"{what} not ready after {timeout:.0f}s" + (f": {last!r}" if last else ""))


def free_port(host="127.0.0.1"):
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
