"""`courier` for the command-line stories without a second of imports on every launch.

The stories run `courier` a few hundred times in all, and each fresh interpreter spent
about a second of CPU importing the same modules before doing a tenth of that in work: on
two cores that was over a minute of the suite. A fork server imports the command line
once per test worker, then forks one child per command. The child is a real process with
its own arguments, environment, working directory, stdin, stdout, stderr and exit status,
and it runs the same `courier.cli.main` that `python -m courier` runs.

What a fork cannot show is a fresh interpreter's start-up: import errors, import costs and
the `courier` script itself. tests/e2e/test_cli_startup.py and the serving commands
(`courier run`, `mail`, `scheduler`, `bot`, started with Popen) keep real launches for that.

Protocol, on a SOCK_SEQPACKET Unix socket so each message keeps its bounds: the client
sends the request as JSON with its stdin, stdout and stderr descriptors attached; a
supervisor forked for the request answers with the command's pid, then its exit status.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
_STARTUP_SECONDS = 120


def _handler_modules() -> set[str]:
    """Every command module the parser names, so each child finds it imported."""
    from courier.parser import Handler, build_parser

    modules: set[str] = set()
    pending: list[argparse.ArgumentParser] = [build_parser()]
    while pending:
        parser = pending.pop()
        handler = parser.get_default("handler")
        if isinstance(handler, Handler):
            modules.add(handler.module)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                pending.extend(action.choices.values())
    return modules


def _preload() -> None:
    import importlib

    import courier.cli  # noqa: F401

    # Serving commands are long-lived and started with Popen: no need to carry them.
    for module in sorted(_handler_modules() - {"courier.serve_commands"}):
        importlib.import_module(module)
    # A fork copies only the thread that forks: a thread started by an import would be
    # missing, half-held locks and all, in every child.
    assert threading.active_count() == 1, threading.enumerate()


def _run_command(request: dict[str, Any], fds: list[int]) -> None:
    """In the command's own process: become `courier ARGS` and exit with its status."""
    from courier.cli import main

    code: int = 1
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for target, fd in zip((0, 1, 2), fds, strict=True):
            os.dup2(fd, target)
            os.close(fd)
        sys.argv = ["courier", *request["args"]]
        code = main(request["args"])
    except SystemExit as exit:  # argparse's usage errors, as `sys.exit(main())` would
        if isinstance(exit.code, int):
            code = exit.code
        elif exit.code is not None:
            print(exit.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _supervise(connection: socket.socket) -> None:
    """In a supervisor forked per request: start the command, report its pid and status."""
    message, fds, _flags, _address = socket.recv_fds(connection, 1 << 20, 3)
    request = json.loads(message)
    pid = os.fork()
    if pid == 0:
        connection.close()
        _run_command(request, fds)
    for fd in fds:
        os.close(fd)
    connection.send(str(pid).encode())
    _, status = os.waitpid(pid, 0)
    connection.send(str(os.waitstatus_to_exitcode(status)).encode())
    os._exit(0)


def serve(path: str) -> None:
    _preload()
    # Supervisors are reaped by the kernel; each one waits for its own command.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    print("ready", flush=True)
    while True:
        connection, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _supervise(connection)
        connection.close()


class ForkServer:
    """One per test worker, started on first use and stopped when the worker ends."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="courier-fork-")
        self.path = os.path.join(self.folder, "socket")
        env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.forkserver", self.path],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        ready = self.process.stdout.readline().strip()
        assert ready == "ready", f"the fork server did not start: {ready!r}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)

    def run(
        self,
        args: list[str],
        *,
        cwd: Path | str,
        env: dict[str, str],
        stdin: str | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        request = json.dumps({"args": args, "cwd": str(cwd), "env": env}).encode()
        with (
            tempfile.TemporaryFile() as given,
            tempfile.TemporaryFile() as out,
            tempfile.TemporaryFile() as err,
            socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as connection,
        ):
            given.write((stdin or "").encode())
            given.seek(0)
            connection.settimeout(timeout)
            connection.connect(self.path)
            socket.send_fds(connection, [request], [given.fileno(), out.fileno(), err.fileno()])
            pid = int(connection.recv(64))
            try:
                code = int(connection.recv(64))
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
                raise subprocess.TimeoutExpired(["courier", *args], timeout) from None
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(
                ["courier", *args],
                code,
                out.read().decode(errors="replace"),
                err.read().decode(errors="replace"),
            )


_server: ForkServer | None = None
_lock = threading.Lock()


def run_courier(
    *args: str,
    cwd: Path | str,
    env: dict[str, str],
    stdin: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """`courier ARGS` to its end, as subprocess.run(..., capture_output=True, text=True)."""
    global _server
    with _lock:
        if _server is None or not _server.alive():
            _server = ForkServer()
            atexit.register(_server.stop)
        server = _server
    return server.run(list(args), cwd=cwd, env=env, stdin=stdin, timeout=timeout)


if __name__ == "__main__":
    serve(sys.argv[1])
