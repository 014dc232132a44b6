"""Start-up failures as the person at the terminal meets them (issue #14, finding 8): a
second Courier on a port already taken, a folder Courier cannot write, a setting that
cannot work. Each is one line on stderr naming what and which setting, a non-zero exit
code, and no traceback; and the Courier that could not start touched nothing."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The console script `make run` installs, beside the interpreter running the tests.
SCRIPT = Path(sys.executable).parent / "courier"


@dataclass(frozen=True, slots=True)
class Failure:
    code: int
    out: str
    err: str

    def line(self) -> str:
        """The whole of stderr, which must be one line and no traceback."""
        assert "Traceback" not in self.err, self.err
        lines = self.err.splitlines()
        assert len(lines) == 1, self.err
        assert lines[0].startswith("courier: "), self.err
        return lines[0]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    # Every port of its own, so that only the one a test takes is taken.
    return env | {
        "PYTHONPATH": str(ROOT),
        "COURIER_MAIL_DOMAIN": "in.example.com",
        "COURIER_SMTP_PORT": "0",
        "COURIER_DEMO_SUPPLIER_PORT": str(_free_port()),
        "COURIER_OAUTH_CALLBACK_PORT": "0",
        "COURIER_TELEGRAM_WEBHOOK_PORT": "0",
        **settings,
    }


def _courier(home: Path, *args: str, **settings: str) -> Failure:
    done = subprocess.run(
        [sys.executable, "-m", "courier", *args],
        cwd=home,
        env=_env(**settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Failure(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another program listens on, as a Courier already running would."""
    with socket.create_server(("127.0.0.1", 0)) as other:
        yield int(other.getsockname()[1])


WEBHOOK = {
    "COURIER_TELEGRAM_TOKEN": "123456:not-a-real-token",
    "COURIER_TELEGRAM_WEBHOOK_URL": "https://courier.example.com",
    "COURIER_TELEGRAM_WEBHOOK_SECRET": "webhook-secret",
}


@pytest.mark.parametrize(
    ("command", "part", "setting", "needs"),
    [
        ("run", "SMTP gateway", "COURIER_SMTP_PORT", {}),
        ("run", "Demo Supplier", "COURIER_DEMO_SUPPLIER_PORT", {}),
        ("run", "OAuth callback", "COURIER_OAUTH_CALLBACK_PORT", {"COURIER_XERO_CLIENT_ID": "x"}),
        ("run", "Telegram webhook", "COURIER_TELEGRAM_WEBHOOK_PORT", WEBHOOK),
        ("mail", "SMTP gateway", "COURIER_SMTP_PORT", {}),
        (
            "oauth",
            "OAuth callback",
            "COURIER_OAUTH_CALLBACK_PORT",
            {"COURIER_QUICKBOOKS_CLIENT_ID": "x"},
        ),
        ("bot", "Telegram webhook", "COURIER_TELEGRAM_WEBHOOK_PORT", WEBHOOK),
    ],
)
def test_a_busy_port_is_one_line_naming_the_part_and_its_setting(
    home: Path,
    taken_port: int,
    command: str,
    part: str,
    setting: str,
    needs: dict[str, str],
) -> None:
    failed = _courier(home, command, **needs, **{setting: str(taken_port)})
    assert failed.code == 1
    line = failed.line()
    assert f"port {taken_port} ({part})" in line
    assert setting in line
    assert "another Courier" in line
    # Refused before anything was opened: no database, no key, no start-up lines.
    assert not (home / "var").exists()
    assert failed.out == ""


def test_a_second_courier_run_while_one_runs_is_one_line(home: Path) -> None:
    """The finding as it was met: `courier run` twice, the second a 183-line traceback."""
    ports = {
        "COURIER_SMTP_PORT": str(_free_port()),
        "COURIER_DEMO_SUPPLIER_PORT": str(_free_port()),
    }
    first = subprocess.Popen(
        [sys.executable, "-m", "courier", "run"],
        cwd=home,
        env=_env(**ports),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert first.stdout is not None
    try:
        seen: list[str] = []
        while not any("demo: Demo Supplier at" in line for line in seen) or not any(
            "SMTP gateway on" in line for line in seen
        ):
            line = first.stdout.readline()
            assert line, "the first courier run exited: " + "".join(seen)
            seen.append(line)
        second = _courier(home, "run", **ports)
        assert second.code == 1
        line = second.line()
        assert f"port {ports['COURIER_SMTP_PORT']} (SMTP gateway)" in line
        assert "COURIER_SMTP_PORT" in line
        assert first.poll() is None  # the first one serves on, undisturbed
    finally:
        first.send_signal(signal.SIGTERM)
        code = first.wait(timeout=30)
        first.stdout.close()
    assert code == 0


def test_two_parts_on_one_port_is_a_setting_to_change(home: Path) -> None:
    port = str(_free_port())
    failed = _courier(
        home,
        "run",
        COURIER_SMTP_PORT=port,
        COURIER_OAUTH_CALLBACK_PORT=port,
        COURIER_XERO_CLIENT_ID="x",
    )
    assert failed.code == 2
    line = failed.line()
    assert "COURIER_OAUTH_CALLBACK_PORT" in line
    assert "COURIER_SMTP_PORT" in line


def test_a_host_that_is_not_this_machine_is_one_line(home: Path) -> None:
    # 192.0.2.1 is TEST-NET-1: an address no machine of ours has.
    failed = _courier(home, "run", COURIER_SMTP_HOST="192.0.2.1")
    assert failed.code == 2
    line = failed.line()
    assert "COURIER_SMTP_HOST" in line
    assert "192.0.2.1" in line


@pytest.mark.parametrize("command", [("run",), ("workspace", "list"), ("doctor",)])
def test_a_data_folder_courier_cannot_make_is_one_line(
    home: Path, command: tuple[str, ...]
) -> None:
    (home / "a-file").write_text("not a folder")
    failed = _courier(home, *command, COURIER_DATA_DIR=str(home / "a-file" / "var"))
    if command == ("doctor",):
        # The doctor reports it among its checks rather than stopping at it.
        assert failed.code == 1
        assert "Traceback" not in failed.err
        assert "FAIL  data_dir" in failed.out
        return
    assert failed.code == 1
    line = failed.line()
    assert str(home / "a-file" / "var") in line
    assert "COURIER_DATA_DIR" in line


def test_a_document_folder_courier_cannot_make_is_one_line_before_it_serves(
    home: Path,
) -> None:
    (home / "a-file").write_text("not a folder")
    failed = _courier(home, "run", COURIER_STORAGE_DIR=str(home / "a-file" / "documents"))
    assert failed.code == 1
    line = failed.line()
    assert "COURIER_STORAGE_DIR" in line
    assert failed.out == ""


def test_a_tls_certificate_it_cannot_read_is_one_line(home: Path) -> None:
    failed = _courier(
        home,
        "mail",
        COURIER_SMTP_TLS_CERT=str(home / "missing.pem"),
        COURIER_SMTP_TLS_KEY=str(home / "missing.key"),
    )
    assert failed.code == 2
    line = failed.line()
    assert "COURIER_SMTP_TLS_CERT" in line
    assert "missing.pem" in line


def test_a_telegram_out_of_reach_is_one_line_without_the_token(home: Path) -> None:
    """Telegram (here nothing at all answering) cannot be reached: the bot says so, and
    never repeats the token, which is in every Bot API URL."""
    token = "123456:AAE-secret-part-of-the-token"
    failed = _courier(
        home,
        "bot",
        COURIER_TELEGRAM_TOKEN=token,
        COURIER_TELEGRAM_API_URL=f"http://127.0.0.1:{_free_port()}",
    )
    assert failed.code == 1
    lines = [line for line in failed.err.splitlines() if not _LOG_RECORD.match(line)]
    assert len(lines) == 1, failed.err
    assert "Traceback" not in failed.err
    assert "COURIER_TELEGRAM_API_URL" in lines[0]
    assert "secret-part" not in failed.err


_LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING) ")


def test_the_start_up_lines_name_the_courier_the_person_can_type(home: Path) -> None:
    """`make run` leaves `courier` in .venv/bin, rarely on the PATH: the next step printed
    at start must be a command that runs as printed."""
    assert SCRIPT.is_file(), "the tests run from Courier's virtualenv"
    env = _env() | {"PATH": "/usr/bin:/bin"}
    process = subprocess.Popen(
        [str(SCRIPT), "run"],
        cwd=home,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    try:
        seen: list[str] = []
        while not any(line.startswith("Next:") for line in seen):
            line = process.stdout.readline()
            assert line, "courier run exited: " + "".join(seen)
            seen.append(line)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        process.stdout.close()
    [suggested] = [line for line in seen if line.startswith("Next:")]
    assert suggested.startswith(f"Next: {SCRIPT} workspace create ")
    # Typed as printed, the suggestion works.
    typed = suggested.removeprefix("Next: ").strip().replace('"My Business"', "Bakery")
    done = subprocess.run(
        [*typed.split(), "--json"], cwd=home, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_on_the_path_its_hints_say_courier(home: Path) -> None:
    env = _env() | {"PATH": f"{SCRIPT.parent}:/usr/bin:/bin"}
    done = subprocess.run(
        [str(SCRIPT), "inbox", "list", "--workspace", "nope"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "`courier workspace list`" in done.stderr.splitlines()[-1]
