"""Publication as one unit (publication.py): whichever file-system step of staging and switching
is killed or fails, the stable paths (`warehouse/report.duckdb`, the export folder) show the
previous publication or the new one, whole, and the next attempt completes it.

Faults come from outside the product: a child process whose `os` calls are wrapped to die
(SIGKILL) before the Nth one, or, in this process, to raise ENOSPC or EACCES there.
"""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path

import pytest

from dagster_project.publication import PUBLISHED_MARK, PublicationError, Publisher, write_file

# Every call that changes the file system, or makes a change durable.
OS_STEPS = ("replace", "rename", "symlink", "link", "unlink", "rmdir", "mkdir", "fsync")


def _faulty(n: int, fault) -> tuple[dict, list[int]]:
    """Wrap the `os` calls so that `fault()` happens instead of the nth; returns the wrappers
    and a one-item list counting the calls."""
    calls = [0]

    def step(original):
        def wrapped(*args, **kwargs):
            calls[0] += 1
            if calls[0] == n:
                fault()
            return original(*args, **kwargs)
        return wrapped

    return {name: step(getattr(os, name)) for name in OS_STEPS}, calls


def _killed_run(n: int, root: Path, run_id: str, periods: list[str]) -> int:
    """Run `publish_new` in a forked child that is killed (SIGKILL) at its nth step; its exit status."""
    pid = os.fork()
    if pid == 0:  # the child: no return from here
        try:
            wrappers, _ = _faulty(n, lambda: os.kill(os.getpid(), signal.SIGKILL))
            for name, wrapper in wrappers.items():
                setattr(os, name, wrapper)
            publish_new(root, run_id, periods)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def publish_new(root: Path, run_id: str, periods: list[str], label: str = "new") -> None:
    """What a run does: stage a complete publication of `periods` (contents name `label`), switch."""
    pub = Publisher(root / "warehouse", root / "exports")
    folder = pub.stage(run_id)
    for period in periods:
        write_file(folder / "exports" / period / "information_requests.csv", f"{label} csv {period}\n".encode())
        write_file(folder / "exports" / period / "report.html", f"{label} html {period}\n".encode())
    write_file(folder / "exports" / "index.html", f"{label} index\n".encode())
    write_file(folder / "report.duckdb", f"{label} report\n".encode())
    pub.switch(run_id)
    pub.prune()


def visible(root: Path) -> dict[str, str]:
    """Everything a reader of the stable paths sees."""
    seen = {}
    report = root / "warehouse" / "report.duckdb"
    if report.exists():
        seen["report.duckdb"] = report.read_text()
    exports = root / "exports"
    if exports.exists():
        for path in sorted(exports.rglob("*")):
            assert not path.name.startswith("."), f"temporary or hidden file in the public folder: {path}"
            if path.is_file():
                seen[str(path.relative_to(exports))] = path.read_text()
    return seen


def _legacy(root: Path) -> None:
    """Outputs as a version before publications wrote them: real files at the stable paths."""
    (root / "warehouse").mkdir(parents=True)
    (root / "warehouse" / "report.duckdb").write_text("old report\n")
    for period in ("2023-H2", "2024-H1"):
        (root / "exports" / period).mkdir(parents=True)
        (root / "exports" / period / "information_requests.csv").write_text(f"old csv {period}\n")
        (root / "exports" / period / "report.html").write_text(f"old html {period}\n")
    (root / "exports" / "index.html").write_text("old index\n")


SCENARIOS = {
    # nothing published yet
    "first": (lambda root: None, ["2023-H2", "2024-H1"]),
    # a publication of two periods; the new one rebuilds one of them and adds a third
    "next": (lambda root: publish_new(root, "run-0", ["2023-H2", "2024-H1"], label="old"), ["2024-H1", "2024-H2"]),
    # outputs of a version before publications (adopted as the first publication, then replaced)
    "legacy": (_legacy, ["2024-H1", "2024-H2"]),
}


def _expected(scenario: str, root: Path) -> tuple[dict, dict]:
    """The stable paths before the new publication, and after it (worked out on a scratch copy)."""
    setup, periods = SCENARIOS[scenario]
    scratch = root.parent / (root.name + "-scratch")
    setup(scratch)
    before = visible(scratch)
    publish_new(scratch, "run-x", periods)
    return before, visible(scratch)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_killed_at_every_step_the_readers_see_one_publication(tmp_path, scenario):
    root = tmp_path / "pub"
    setup, periods = SCENARIOS[scenario]
    before, after = _expected(scenario, root)
    assert before != after
    setup(root)
    states = []
    for n in range(1, 400):
        status = _killed_run(n, root, f"run-{n}", periods)
        seen = visible(root)
        assert seen in (before, after), f"killed before step {n}: a mix of publications\n{seen}"
        states.append(seen == after)
        if status == 0:
            break
        assert status == -signal.SIGKILL, status
    else:
        pytest.fail("the publication never completed")
    # the switch is one step: old until then, new from then on
    assert states == sorted(states) and states[-1], states
    assert n > 10  # the kills did fall inside staging and switching
    # what was left by the killed runs is gone: the current publication and kept ones only
    publications = root / "warehouse" / "publications"
    current = os.readlink(root / "warehouse" / "current").split("/")[-1]
    for folder in publications.iterdir():
        assert folder.name == current or (folder / PUBLISHED_MARK).exists(), folder.name
    assert not [p for p in (root / "warehouse").iterdir() if p.name.startswith(".current")]


@pytest.mark.parametrize("fault", [errno.ENOSPC, errno.EACCES], ids=["disk-full", "permission-denied"])
@pytest.mark.parametrize("scenario", ["next", "legacy"])
def test_a_failed_step_leaves_one_publication(tmp_path, monkeypatch, scenario, fault):
    root = tmp_path / "pub"
    setup, periods = SCENARIOS[scenario]
    before, after = _expected(scenario, root)
    setup(root)
    def fail():
        raise OSError(fault, os.strerror(fault))

    n, failures = 0, 0
    while True:
        n += 1
        wrappers, calls = _faulty(n, fail)
        with monkeypatch.context() as patched:
            for name, wrapper in wrappers.items():
                patched.setattr(os, name, wrapper)
            try:
                publish_new(root, f"run-{n}", periods)
            except OSError as exc:
                assert exc.errno == fault or f"[Errno {fault}]" in str(exc)  # shutil.Error lists them
                failures += 1
        assert visible(root) in (before, after), f"failed at step {n}: a mix of publications"
        if calls[0] < n:  # the fault was never reached: a whole run without one
            break
    assert visible(root) == after
    assert failures > 10  # most steps' faults stop the run (a few are absorbed, e.g. mkdir of a folder there)


def test_a_run_of_one_period_carries_the_others_over_without_copying(tmp_path):
    publish_new(tmp_path, "run-1", ["2023-H2", "2024-H1"], label="old")
    publish_new(tmp_path, "run-2", ["2024-H1"])
    seen = visible(tmp_path)
    assert seen["2023-H2/information_requests.csv"] == "old csv 2023-H2\n"
    assert seen["2024-H1/information_requests.csv"] == "new csv 2024-H1\n"
    first = tmp_path / "warehouse" / "publications" / "run-1" / "exports" / "2023-H2" / "information_requests.csv"
    second = tmp_path / "warehouse" / "publications" / "run-2" / "exports" / "2023-H2" / "information_requests.csv"
    assert first.stat().st_ino == second.stat().st_ino  # a hard link
    # the rebuilt period's file in the older publication is untouched
    assert (tmp_path / "warehouse" / "publications" / "run-1" / "exports" / "2024-H1" /
            "information_requests.csv").read_text() == "old csv 2024-H1\n"


def test_old_publications_are_pruned_and_the_newest_kept(tmp_path):
    for n in range(6):
        publish_new(tmp_path, f"run-{n}", ["2024-H1"], label=f"v{n}")
    kept = sorted(p.name for p in (tmp_path / "warehouse" / "publications").iterdir())
    assert kept == ["run-3", "run-4", "run-5"]
    assert visible(tmp_path)["report.duckdb"] == "v5 report\n"


def test_an_export_folder_with_foreign_files_is_not_removed(tmp_path):
    _legacy(tmp_path)
    (tmp_path / "exports" / "robots.txt").write_text("keep me")
    with pytest.raises(RuntimeError, match="robots.txt"):
        publish_new(tmp_path, "run-1", ["2024-H1"])
    assert (tmp_path / "exports" / "robots.txt").read_text() == "keep me"
    assert (tmp_path / "warehouse" / "report.duckdb").read_text() == "old report\n"


@pytest.mark.parametrize("where", ["inside", "current", "around"])
def test_an_export_folder_inside_the_warehouse_is_refused_before_anything(tmp_path, where):
    export = {"inside": tmp_path / "warehouse" / "exports", "current": tmp_path / "warehouse" / "current" / "exports",
              "around": tmp_path}[where]
    with pytest.raises(PublicationError, match="lies inside the"):
        Publisher(tmp_path / "warehouse", export).check()
    assert not (tmp_path / "warehouse").exists()


def test_an_export_path_that_is_a_file_or_a_link_elsewhere_is_refused(tmp_path):
    publish_new(tmp_path / "a", "run-1", ["2024-H1"])
    (tmp_path / "file").write_text("keep me")
    with pytest.raises(PublicationError, match="is a file"):
        Publisher(tmp_path / "a" / "warehouse", tmp_path / "file").check()
    (tmp_path / "elsewhere").symlink_to(tmp_path / "a" / "exports")
    with pytest.raises(PublicationError, match="is a link to"):
        Publisher(tmp_path / "b" / "warehouse", tmp_path / "elsewhere").check()
    assert (tmp_path / "file").read_text() == "keep me"


@pytest.mark.parametrize("stray", [".htaccess", ".well-known/security.txt", "2023-H2/notes.txt", ".mine.2024.tmp",
                                   "2023-H2/report.html (a link)"])
def test_a_legacy_export_folder_holding_anything_else_is_refused_and_kept(tmp_path, stray):
    _legacy(tmp_path)
    if stray.endswith(" (a link)"):  # a link would publish what it points at
        stray = stray.removesuffix(" (a link)")
        (tmp_path / "secret.txt").write_text("keep me")
        (tmp_path / "exports" / stray).unlink()
        (tmp_path / "exports" / stray).symlink_to(tmp_path / "secret.txt")
    (tmp_path / "exports" / stray).parent.mkdir(parents=True, exist_ok=True)
    if not (tmp_path / "exports" / stray).is_symlink():
        (tmp_path / "exports" / stray).write_text("keep me")
    with pytest.raises(PublicationError, match="which irr did not write"):
        publish_new(tmp_path, "run-1", ["2024-H1"])
    assert (tmp_path / "exports" / stray).read_text() == "keep me"
    assert (tmp_path / "warehouse" / "report.duckdb").read_text() == "old report\n"


def test_a_current_that_is_not_a_link_is_refused(tmp_path):
    (tmp_path / "warehouse" / "current").mkdir(parents=True)
    with pytest.raises(PublicationError, match="is not a link"):
        Publisher(tmp_path / "warehouse", tmp_path / "exports").check()


def test_a_publication_switched_to_but_not_marked_is_kept_as_published(tmp_path):
    for n in range(2):
        publish_new(tmp_path, f"run-{n}", ["2024-H1"], label=f"v{n}")
    # run-2 dies right after its switch, before its mark
    pub = Publisher(tmp_path / "warehouse", tmp_path / "exports")
    folder = pub.stage("run-2")
    write_file(folder / "report.duckdb", b"v2 report\n")
    pub._point_current("run-2")
    publish_new(tmp_path, "run-3", ["2024-H1"], label="v3")
    kept = sorted(p.name for p in (tmp_path / "warehouse" / "publications").iterdir())
    assert kept == ["run-1", "run-2", "run-3"]  # the two last that readers saw, and the current
