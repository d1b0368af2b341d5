"""A dbt that has already started: each dbt invocation of an `irr run` is a fork of one process
that imported dbt once, instead of a new interpreter that imports it again (about 2 s each).

`irr run` starts the server (`started`) while it imports Dagster, on the machine's other core,
and names its socket in IRR_DBT_SERVER. dagster-dbt still runs `irr-dbt build ...` as a
subprocess and reads its output; `irr-dbt` hands its arguments, environment, working folder and
standard streams to the server (`call`), which forks a worker that runs dbt's own command line
on those streams. `irr-dbt` forwards the signals it gets to the worker and exits as the worker
did, so to dagster-dbt it is dbt. Without a server (a run launched by the Dagster daemon or the
UI), or when the server cannot be reached, `irr-dbt` runs dbt as before.

Each worker is a fork of a process that imported dbt and filled its caches but never ran a dbt
command: dbt's global state (flags, adapters, the invocation) starts as in a new process. What a
worker shares with the server instead: umask, limits and niceness, and multiprocessing's
resource tracker. A worker dies with its `irr-dbt` (the server kills it when the connection
drops) and with the server, which dies with `irr run` (PR_SET_PDEATHSIG), so no dbt goes on
writing the warehouse after its run is gone. Linux only; elsewhere dbt runs as before.

This module imports nothing heavy at the top: `irr-dbt` imports it on every invocation.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager

ENV = "IRR_DBT_SERVER"
PR_SET_PDEATHSIG = 1
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
MAX_REQUEST = 1 << 20  # arguments and environment of one invocation
# the project's own dbt state, which the warm-up reads: dbt_project.MANIFEST_TARGET (that module
# imports dagster-dbt, which is what takes the time; a test ties the two)
PROJECT_TARGET = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "dbt", "target")

# what a dbt build imports after `dbt.cli.main`: imported once by the server, not by every worker
# (numpy: DuckDB imports it when the plugin registers the first Python function, 0.04 s;
# babel.dates: agate's number format, on dbt's first table of values, 0.01 s)
PRELOAD = (
    "dbt.cli.main", "dbt.adapters.duckdb", "dbt.adapters.duckdb.impl", "dbt.adapters.duckdb.plugins",
    "dbt.task.build", "dbt.parser.manifest", "dbt.compilation", "dbt.context.providers",
    "dagster_project.dbt_plugin", "numpy", "babel.dates",
)


def die_with_parent(parent: int) -> bool:
    """Ask Linux to SIGKILL this process when its parent dies (the request outlives exec; not
    Linux: nothing is asked); whether the parent is still `parent`: it may have died before the
    request took effect, and the process would then already belong to the reaper."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    return os.getppid() == parent


def _peer_uid(conn: socket.socket) -> int:
    """The user id of the process at the other end of a Unix socket (SO_PEERCRED: pid, uid, gid)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    return int.from_bytes(creds[4:8], sys.byteorder)


# --- the client: irr-dbt ------------------------------------------------------------------------

def call(address: str, argv: list[str], env: dict[str, str], cwd: str) -> int | None:
    """Run dbt with `argv` in a worker of the server at `address`, on this process's standard
    streams; its exit status (negative: the signal that ended it). None when no server took the
    request (nothing ran): the caller runs dbt itself."""
    pending: list[int] = []  # signals that came before the worker's pid
    worker: list[int] = []

    def forward(signum, _frame) -> None:
        if not worker:
            pending.append(signum)
            return
        try:
            os.kill(worker[0], signum)
        except OSError:  # it has just ended: its status is on the way
            pass

    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        conn.connect(_abstract(address))
        # an abstract name has no permissions: were the server gone, another user could hold
        # the name; the arguments, environment and streams go to this user's server only
        if _peer_uid(conn) != os.getuid():
            raise ConnectionRefusedError
    except OSError:
        conn.close()
        return None
    saved = {signum: signal.signal(signum, forward) for signum in FORWARDED}
    with conn:
        request = json.dumps({"argv": argv, "env": env, "cwd": cwd}).encode()
        try:
            socket.send_fds(conn, [request], [0, 1, 2])
            reply = conn.recv(4096)
        except OSError:
            reply = b""
        if not reply:  # nothing ran: the caller runs dbt itself, unless it was asked to stop
            for signum, handler in saved.items():
                signal.signal(signum, handler)
            for signum in pending:
                signal.raise_signal(signum)
            return None
        worker.append(json.loads(reply)["pid"])
        for signum in pending:
            forward(signum, None)
        try:
            reply = conn.recv(4096)
        except OSError:
            reply = b""
    if not reply:  # the server died with the worker still running (its PDEATHSIG ends the worker)
        print("irr-dbt: the dbt server went away", file=sys.stderr)
        return 1
    return json.loads(reply)["exit"]


def exit_as(status: int) -> None:
    """Exit as a process with this exit status did (a negative status: killed by that signal)."""
    if status < 0:
        try:
            signal.signal(-status, signal.SIG_DFL)
        except (OSError, ValueError):  # SIGKILL and SIGSTOP keep their default, and cannot be set
            pass
        os.kill(os.getpid(), -status)
    sys.exit(status)


# --- the server ---------------------------------------------------------------------------------

@contextmanager
def started(project_target: str = PROJECT_TARGET) -> Iterator[str | None]:
    """Start a server for the duration of the block, its address in IRR_DBT_SERVER; yields the
    address, or None where there is none (not Linux). `project_target`: the folder of the
    project's own partial-parse state, read to warm the server up.

    The socket has an abstract address (Linux: no file, so a run killed outright leaves none
    behind), written with a leading "@" for the NUL an environment cannot hold; the server
    serves only processes of this user (it checks each caller's credentials).
    """
    import secrets
    import subprocess

    if not sys.platform.startswith("linux") or not _has_pidfd():
        yield None
        return
    address = f"@irr-dbt-{os.getpid()}-{secrets.token_hex(8)}"
    # bound here, listened to there: a client that comes while the server still imports dbt
    # waits in the backlog
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as listener:
        listener.bind(_abstract(address))
        listener.listen(16)
        try:
            proc = subprocess.Popen(
                # -P: the package installed, never a folder of that name where irr run was started
                [sys.executable, "-P", "-m", "dagster_project.warm_dbt", str(listener.fileno()), str(os.getpid()),
                 str(project_target)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                pass_fds=[listener.fileno()],
            )
        except OSError:  # no interpreter to start: dbt starts cold (and says what is missing)
            proc = None
    if proc is None:
        yield None
        return
    before = os.environ.get(ENV)
    os.environ[ENV] = address
    try:
        yield address
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before
        proc.stdin.close()  # the server's signal to stop
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _has_pidfd() -> bool:
    """Whether the kernel has pidfd_open (Linux 5.3), which the server waits for its workers with."""
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return False
    return True


def _abstract(address: str) -> str:
    """The socket address of an IRR_DBT_SERVER value: "@name" is the abstract name "\\0name"."""
    return "\0" + address[1:] if address.startswith("@") else address


class _Server:
    def __init__(self, listener: int) -> None:
        import selectors

        self.listener = socket.socket(fileno=listener)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, ("accept", None))
        self.selector.register(sys.stdin.fileno(), selectors.EVENT_READ, ("parent", None))
        self.workers: dict[int, tuple[socket.socket, int]] = {}  # pid -> (connection, pidfd)

    def serve(self) -> None:
        import selectors

        while True:
            for key, _ in self.selector.select():
                what, pid = key.data
                if what == "parent":  # irr run closed our stdin, or died
                    for pid in list(self.workers):
                        os.kill(pid, signal.SIGKILL)
                    return
                if what == "accept":
                    conn, _ = self.listener.accept()
                    if _peer_uid(conn) != os.getuid():
                        conn.close()
                    else:  # its request is read when it has come: a silent caller holds up no other
                        conn.setblocking(False)
                        self.selector.register(conn, selectors.EVENT_READ, ("request", None))
                elif what == "request":
                    self.selector.unregister(key.fileobj)
                    self._start(key.fileobj)
                elif what == "exit":
                    self._reap(pid)
                elif what == "client" and pid in self.workers:
                    # irr-dbt closed the connection (killed): its dbt goes too. (A worker not
                    # yet reaped keeps its pid, so the signal cannot reach another process.)
                    os.kill(pid, signal.SIGKILL)
                    self.selector.unregister(key.fileobj)

    def _start(self, conn: socket.socket) -> None:
        """Fork a worker for the request that `conn` brought, or close `conn` on a bad one."""
        import selectors

        try:
            request, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST, 3)
            request = json.loads(request)
            conn.setblocking(True)
        except (OSError, ValueError):
            conn.close()
            return
        if len(fds) != 3 or not isinstance(request, dict):
            for fd in fds:
                os.close(fd)
            conn.close()
            return
        pid = os.fork()
        if pid == 0:
            self._work(conn, request, fds)  # never returns
        try:
            # as the worker does first thing: its group exists before its caller learns its pid
            os.setpgid(pid, pid)
        except OSError:  # it is gone already
            pass
        for fd in fds:
            os.close(fd)
        pidfd = os.pidfd_open(pid)
        self.workers[pid] = (conn, pidfd)
        self.selector.register(pidfd, selectors.EVENT_READ, ("exit", pid))
        self.selector.register(conn, selectors.EVENT_READ, ("client", pid))
        try:
            conn.send(json.dumps({"pid": pid}).encode())
        except OSError:  # irr-dbt is gone already
            pass

    def _reap(self, pid: int) -> None:
        conn, pidfd = self.workers.pop(pid)
        _, status = os.waitpid(pid, 0)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        try:
            self.selector.unregister(conn)
        except KeyError:
            pass
        try:
            conn.send(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode())
        except OSError:
            pass
        conn.close()

    def _work(self, mine: socket.socket, request: dict, fds: list[int]) -> None:
        """In the forked worker: become a dbt process started with the request's arguments,
        environment, folder and streams, run dbt's command line, and exit as dbt does."""
        code = 1
        try:
            server = os.getppid()
            os.setpgid(0, 0)  # the terminal's signals reach dbt through irr-dbt, as they would reach dbt
            if not die_with_parent(server):
                os._exit(1)
            self.selector.close()
            self.listener.close()
            mine.close()
            for conn, pidfd in self.workers.values():
                conn.close()
                os.close(pidfd)
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
                os.close(fd)
            for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD):
                signal.signal(signum, signal.SIG_DFL)
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            sys.argv = list(request["argv"])
            from dbt.cli.main import cli

            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            try:
                cli(prog_name="dbt")
                code = 0
            except SystemExit as exc:
                code = _exit_code(exc.code)
        except KeyboardInterrupt:  # before dbt could handle it: end as Python does, by the signal
            code = -signal.SIGINT
        except BaseException:  # noqa: BLE001 - anything dbt let through ends the worker, as it would dbt
            import traceback

            traceback.print_exc()
            code = 1
        finally:
            finish()
            if code == -signal.SIGINT:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGINT)
            os._exit(code if code >= 0 else 128 - code)


def _exit_code(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def finish() -> bool:
    """What the interpreter does on its way out of a process, short of freeing its modules: wait
    for the threads, run the exit hooks (dbt's log files are flushed there), flush the standard
    streams. False if a stream could not be flushed."""
    import atexit
    import threading

    try:
        threading._shutdown()  # noqa: SLF001 - what Py_FinalizeEx calls first
    except Exception:  # noqa: BLE001
        pass
    atexit._run_exitfuncs()  # noqa: SLF001
    flushed = True
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            flushed = False
    return flushed


def _warm_up(project_target: str) -> None:
    """Fill the caches that each dbt process fills on first use, so that every worker finds them
    full: the JSON schemas dbt checks its configuration against, and the (de)serialisers that
    mashumaro compiles for a class the first time one is read or written (the manifest's nodes,
    read from the partial-parse state and written as manifest.json). Both depend on the classes
    only, never on the data, and dbt fills them the same way in a process of its own."""
    from pathlib import Path

    from dbt.adapters.duckdb.credentials import DuckDBCredentials
    from dbt.artifacts.resources.v1.config import Hook
    from dbt.config.selectors import SelectorFile
    from dbt.contracts.graph.manifest import Manifest
    from dbt.contracts.project import Configuration, PackageConfig, ProfileConfig, Project, ProjectFlags
    from dbt.parser.manifest import extended_mashumuro_decoder
    from dbt.task.test import TestResultData

    for cls in (Configuration, DuckDBCredentials, Hook, PackageConfig, ProfileConfig, Project, ProjectFlags,
                SelectorFile, TestResultData):
        cls.json_schema()
    state = Path(project_target) / "partial_parse.msgpack"
    try:
        manifest = Manifest.from_msgpack(state.read_bytes(), decoder=extended_mashumuro_decoder)
    except Exception:  # noqa: BLE001 - no state yet, or another dbt's: the workers fill the caches
        return
    manifest.fill_tracking_metadata = lambda: None  # reads dbt's flags, which a worker sets
    manifest.writable_manifest().to_dict(omit_none=False, context={"artifact": True})


def ready(project_target: str) -> None:
    """Make this process what each worker is forked from: dbt imported (PRELOAD), its caches
    filled (_warm_up), and all of it frozen (gc.freeze): it lives as long as the server, and a
    worker's cyclic collector no longer walks it (0.3 s of each dbt invocation to 0.1 s)."""
    import importlib

    # numpy's BLAS would start a thread per core in the server, for nothing: numpy computes nothing here
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    for name in PRELOAD:
        importlib.import_module(name)
    try:
        _warm_up(project_target)
    except Exception:  # noqa: BLE001 - a cold cache only costs time: each worker fills its own
        pass
    gc.freeze()


def main() -> None:
    """`python -m dagster_project.warm_dbt LISTENER PARENT PROJECT_TARGET`: serve the connections
    of the listening socket LISTENER (a file descriptor) until the parent closes our stdin or dies."""
    listener, parent = int(sys.argv[1]), int(sys.argv[2])
    if not die_with_parent(parent):
        sys.exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for irr run to handle, not us
    server = _Server(listener)
    ready(sys.argv[3])
    # From here SIGINT is held back rather than ignored (after the warm-up: starting
    # multiprocessing's resource tracker unblocks it). A worker inherits the mask, so a SIGINT
    # forwarded to it before it has set its handler waits until it has.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    server.serve()
    os._exit(0)  # nothing to flush or close: skip the interpreter's teardown of dbt's modules


if __name__ == "__main__":
    main()
