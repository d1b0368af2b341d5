"""The dbt that has already started (dagster_project/warm_dbt.py): a worker forked from the server
is dbt run on its caller's streams, folder and environment, exits as dbt does, stops when its
caller is interrupted and dies when its caller dies."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dagster_project import warm_dbt
from dagster_project.dbt_project import MANIFEST_TARGET
from drops import alive, children, cmdline

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the server is Linux only")

# a caller of the server, as irr-dbt is: exit 100 when no server took the request
CALLER = """
import json, sys
from dagster_project import warm_dbt
request = json.loads(sys.argv[1])
status = warm_dbt.call(request["address"], request["argv"], request["env"], request["cwd"])
if status is None:
    sys.exit(100)
warm_dbt.exit_as(status)
"""


def _caller(address: str, argv: list[str], env: dict[str, str], cwd: Path, **popen) -> subprocess.Popen:
    request = json.dumps({"address": address, "argv": ["dbt", *argv], "env": env, "cwd": str(cwd)})
    return subprocess.Popen([sys.executable, "-c", CALLER, request], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def _server() -> int:
    def found() -> list[int]:  # a child shows its command line once it has exec'd
        return [pid for pid in children(os.getpid()) if b"dagster_project.warm_dbt" in cmdline(pid)]

    assert _wait_for(found, 10)
    [server] = found()
    return server


def _workers(server: int) -> list[int]:
    """The server's forks (its other child is multiprocessing's resource tracker, which dbt starts)."""
    return [pid for pid in children(server) if cmdline(pid) == cmdline(server)]


def _wait_for(predicate, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_worker_is_dbt_on_its_callers_streams_folder_and_environment(tmp_path):
    here, there = tmp_path / "here", tmp_path / "there"
    for folder in (here, there):
        folder.mkdir()
        (folder / "profiles.yml").write_text("{}\n")
    env = {k: v for k, v in os.environ.items() if k != "DBT_PROFILES_DIR"} | {"DO_NOT_TRACK": "1"}
    with warm_dbt.started(MANIFEST_TARGET) as address:
        assert os.environ[warm_dbt.ENV] == address
        # dbt looks for profiles.yml in its working folder, unless DBT_PROFILES_DIR says where
        out, err = _caller(address, ["debug", "--config-dir"], env, here).communicate(timeout=120)
        assert str(here) in out and str(there) not in out, (out, err)
        caller = _caller(address, ["debug", "--config-dir"], env | {"DBT_PROFILES_DIR": str(there)}, here)
        out, err = caller.communicate(timeout=120)
        assert caller.returncode == 0 and str(there) in out, (out, err)
        # dbt's usage error, on the caller's stderr, with dbt's exit status
        caller = _caller(address, ["no-such-command"], env, here)
        out, err = caller.communicate(timeout=120)
        assert caller.returncode == 2 and "No such command 'no-such-command'" in err, (caller.returncode, out, err)
    assert warm_dbt.ENV not in os.environ
    assert address.startswith("@")  # an abstract socket: no file left behind, even by a run killed outright


def test_without_a_server_the_caller_runs_dbt_itself(tmp_path):
    caller = _caller(str(tmp_path / "no-socket"), ["--version"], dict(os.environ), tmp_path)
    caller.communicate(timeout=60)
    assert caller.returncode == 100


@pytest.mark.skipif(os.geteuid() != 0, reason="calling as another user needs root")
def test_the_server_serves_its_own_user_only():
    """Any process can connect to an abstract socket: the server looks at who called."""
    with warm_dbt.started(MANIFEST_TARGET) as address:
        outcomes = []
        for uid in (65534, os.geteuid()):  # nobody, then this user
            child = os.fork()
            if child == 0:  # no new interpreter: nobody cannot read this one's folder
                try:
                    os.setgid(uid)
                    os.setuid(uid)
                    status = warm_dbt.call(address, ["dbt", "--version"], {"DO_NOT_TRACK": "1"}, "/")
                    os._exit(100 if status is None else status)
                except BaseException:  # noqa: BLE001
                    os._exit(99)
            _, status = os.waitpid(child, 0)
            outcomes.append(os.waitstatus_to_exitcode(status))
        assert outcomes == [100, 0]  # nobody was refused (nothing ran); this user's dbt ran


def _spin(address: str, tmp_path: Path) -> subprocess.Popen:
    """A dbt invocation that runs until it is stopped: a macro of a project of its own that loops."""
    project = tmp_path / "spin"
    (project / "macros").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: spin\nversion: '1.0'\nprofile: spin\n")
    (project / "profiles.yml").write_text(
        "spin:\n  target: memory\n  outputs:\n    memory:\n      type: duckdb\n      path: ':memory:'\n")
    (project / "macros" / "spin.sql").write_text(
        "{% macro spin() %}{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
        "{% endmacro %}\n")  # (dbt's sandbox caps one range at 100,000)
    argv = ["run-operation", "spin", "--project-dir", str(project), "--profiles-dir", str(project)]
    return _caller(address, argv, dict(os.environ) | {"DO_NOT_TRACK": "1"}, project)


@contextmanager
def _spinning(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen, int]]:
    """A server, and a caller whose worker loops: (server, caller, worker)."""
    with warm_dbt.started(MANIFEST_TARGET) as address:
        server = _server()
        caller = _spin(address, tmp_path)
        project = str(tmp_path / "spin")

        def spinning() -> list[int]:
            # the fork in the caller's folder: a fork of the server on its way to exec (the
            # resource tracker its warm-up starts) has the server's command line for a moment
            return [pid for pid in _workers(server) if _cwd(pid) == project]

        assert _wait_for(spinning), "no worker was forked"
        [worker] = spinning()
        yield server, caller, worker


def _cwd(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def test_a_caller_ends_as_its_worker_did(tmp_path):
    """A worker killed outright (the OOM killer picks the largest process: dbt's) ends its caller
    with the same signal, as dagster-dbt would have seen dbt end."""
    with _spinning(tmp_path) as (_, caller, worker):
        os.kill(worker, signal.SIGKILL)
        _, err = caller.communicate(timeout=60)
        assert caller.returncode == -signal.SIGKILL, (caller.returncode, err)


@pytest.mark.parametrize("how", ["killed", "interrupted"])
def test_a_worker_ends_with_its_caller(tmp_path, how):
    """dagster-dbt interrupts dbt with SIGINT when a run is stopped, and a caller killed outright
    (SIGKILL, the OOM killer) cannot say anything: either way its dbt stops."""
    with _spinning(tmp_path) as (server, caller, worker):
        # its own process group: the terminal's signals reach it through its caller only, once
        assert os.getpgid(worker) == worker
        time.sleep(3)  # dbt is under way: in the loop
        caller.send_signal(signal.SIGKILL if how == "killed" else signal.SIGINT)
        caller.communicate(timeout=60)
        if how == "killed":
            assert caller.returncode == -signal.SIGKILL
        else:  # the signal reached dbt, which stops with its own status for Ctrl-C, passed on
            assert caller.returncode == 2, caller.returncode
        assert _wait_for(lambda: not alive(worker), 10), "the worker outlived its caller"
        assert alive(server)  # and the server serves the next invocation


def test_a_worker_dies_with_the_server(tmp_path):
    """The server killed outright (or crashed): its workers go with it, and their callers say so."""
    with _spinning(tmp_path) as (server, caller, worker):
        os.kill(server, signal.SIGKILL)
        _, err = caller.communicate(timeout=60)
        assert caller.returncode == 1 and "the dbt server went away" in err, (caller.returncode, err)
        assert _wait_for(lambda: not alive(worker), 10), "the worker outlived the server"


def test_a_signal_before_the_worker_is_known_reaches_it(tmp_path):
    """Interrupted while the server still warms up: the caller holds the signal and passes it on
    once the worker exists, and the worker, which the server forks with SIGINT held back, takes it."""
    with warm_dbt.started(MANIFEST_TARGET) as address:
        server = _server()
        caller = _spin(address, tmp_path)
        time.sleep(0.5)  # connected, its request sent; the server still imports dbt (about 2 s)
        assert not _workers(server)
        caller.send_signal(signal.SIGINT)
        caller.communicate(timeout=60)
        assert caller.returncode not in (0, 100), caller.returncode  # stopped (click says "Aborted!")
        assert _wait_for(lambda: not _workers(server), 10), "the worker went on"


@pytest.mark.skipif(os.geteuid() != 0, reason="calling as another user needs root")
def test_a_caller_talks_to_its_own_users_server_only(tmp_path):
    """Were the server gone, another user could bind its abstract name: the caller sends its
    arguments, environment and streams to nobody else."""
    address = "@irr-dbt-test-" + os.urandom(8).hex()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.setgid(65534)
            os.setuid(65534)
            with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as listener:
                listener.bind(warm_dbt._abstract(address))
                listener.listen(1)
                os.write(write, b"x")  # listening
                conn, _ = listener.accept()
                conn.settimeout(5)
                try:
                    got = conn.recv(1 << 20)
                except OSError:
                    got = b""
                os._exit(1 if got else 0)
        except BaseException:  # noqa: BLE001
            os._exit(99)
    os.read(read, 1)
    assert warm_dbt.call(address, ["dbt", "--version"], {"SECRET": "x"}, "/") is None
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0  # it got nothing


def test_the_server_is_the_installed_package_not_a_folder_where_irr_started(tmp_path, monkeypatch):
    shadow = tmp_path / "dagster_project"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise SystemExit(3)\n")
    here = os.getcwd()
    monkeypatch.chdir(tmp_path)
    with warm_dbt.started(MANIFEST_TARGET) as address:
        monkeypatch.chdir(here)
        out, err = _caller(address, ["--version"], dict(os.environ), tmp_path).communicate(timeout=120)
        assert "dbt" in out.lower(), (out, err)  # served (a shadowed server would have refused: 100)



def test_the_server_warms_up_on_the_projects_own_state():
    assert Path(warm_dbt.PROJECT_TARGET) == MANIFEST_TARGET


def test_a_worker_starts_with_dbt_imported_and_frozen():
    """A worker is a fork of a process made ready (warm_dbt.ready): what a build imports is
    imported already (the plugin's Python functions make DuckDB import numpy: 0.04 s a worker),
    and frozen, so that the worker's cyclic collector does not walk it (0.3 s a worker)."""
    probe = (
        "import gc, sys, duckdb\n"
        "from dagster_project import warm_dbt\n"
        "warm_dbt.ready(warm_dbt.PROJECT_TARGET)\n"
        "frozen, left = gc.get_freeze_count(), len(gc.get_objects())\n"
        "from dagster_project.dbt_plugin import register_functions\n"
        "before = set(sys.modules)\n"
        "register_functions(duckdb.connect())\n"
        "print(sorted(set(sys.modules) - before), frozen > 100_000, left < 1_000)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.strip() == "[] True True", out
