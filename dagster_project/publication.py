"""Publication: a run's public outputs written complete into their own folder, then one switch.

    <warehouse>/publications/<run id>/report.duckdb
    <warehouse>/publications/<run id>/exports/<period>/information_requests.csv, report.html
    <warehouse>/publications/<run id>/exports/index.html
    <warehouse>/current        -> publications/<run id>     the one atomic switch
    <warehouse>/report.duckdb  -> current/report.duckdb     the analysts' stable path
    <export dir>               -> <warehouse>/current/exports   the public folder's stable path

A run stages everything in its own folder, which starts as hard links to the current
publication's exports (the periods the run does not rebuild carry over), and nothing that
readers see changes until `current` is replaced by a link to that folder: every reader of the
stable paths sees the previous publication or the new one, whole. A run that dies before the
switch leaves a staging folder nobody reads; the next publication removes it.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path


PUBLICATIONS = "publications"
# The publication made of outputs written before publications existed.
LEGACY = "legacy"
CURRENT = "current"
REPORT_DB = "report.duckdb"
EXPORTS = "exports"
# Set in a publication's folder once it has been current: what pruning keeps.
PUBLISHED_MARK = "PUBLISHED"
# Publications kept besides the current one, for readers still holding an older file.
KEEP_PREVIOUS = 2
# What an export folder written before publications existed may hold (then it becomes a link).
_PERIOD_FILES = ("information_requests.csv", "information_requests_by_outcome.csv",
                 "information_requests_by_agency.csv", "report.html")
_TOP_FILES = ("index.html", "information_requests.csv", "datapackage.json")


def write_file(path: Path, data: bytes) -> Path:
    """Write `path` whole or not at all: a temporary file beside it, flushed to disk, renamed over it.

    The rename also gives the path a new inode, so a file hard-linked from another publication
    is never changed in place.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


class PublicationError(RuntimeError):
    """The stable paths cannot be made as asked; the message is one line and says what to do."""


class Publisher:
    """The publications of one warehouse and the stable paths that follow the current one."""

    def __init__(self, warehouse: Path, export_dir: Path):
        self.warehouse = warehouse
        self.export_dir = export_dir
        self.root = warehouse / PUBLICATIONS
        self.current_link = warehouse / CURRENT
        self.report_link = warehouse / REPORT_DB

    def current_id(self) -> str | None:
        """The run id of the current publication, or None before the first one."""
        try:
            return Path(os.readlink(self.current_link)).name
        except FileNotFoundError:
            return None
        except OSError:
            raise PublicationError(f"{self.current_link} is not a link; irr made no such thing: move it away") from None

    def export_link_target(self) -> str:
        return os.path.relpath(self.current_link / EXPORTS, self.export_dir.parent.resolve())

    def check(self) -> None:
        """Refuse, before anything is built, an export folder that cannot become the stable link:
        inside the warehouse, a file, a link to elsewhere, or a folder holding what irr did not write."""
        warehouse = self.warehouse.resolve()
        for candidate in (Path(os.path.abspath(self.export_dir)), self.export_dir.parent.resolve() / self.export_dir.name):
            if candidate == warehouse or candidate.is_relative_to(warehouse):
                raise PublicationError(f"export folder {self.export_dir} lies inside the warehouse {self.warehouse}; "
                                       "set IRR_EXPORT_DIR to a folder outside it")
            if warehouse.is_relative_to(candidate):
                raise PublicationError(f"the warehouse {self.warehouse} lies inside the export folder {self.export_dir}; "
                                       "set IRR_EXPORT_DIR to a folder outside it")
        self.current_id()
        if self.export_dir.is_symlink():
            if os.readlink(self.export_dir) != self.export_link_target():
                raise PublicationError(
                    f"export folder {self.export_dir} is a link to {os.readlink(self.export_dir)}, not to this "
                    "warehouse's current publication: remove the link or choose another IRR_EXPORT_DIR")
        elif self.export_dir.exists() and not self.export_dir.is_dir():
            raise PublicationError(f"export folder {self.export_dir} is a file: move it or choose another IRR_EXPORT_DIR")
        elif self.export_dir.is_dir():
            _check_legacy_exports(self.export_dir)

    def folder(self, run_id: str) -> Path:
        return self.root / run_id

    def stage(self, run_id: str) -> Path:
        """The run's publication folder; made on first use from hard links to the current exports."""
        folder = self.folder(run_id)
        if folder.is_dir():
            return folder
        self.check()
        self.root.mkdir(parents=True, exist_ok=True)
        self.adopt_legacy()
        seeding = self.root / f".{run_id}.seeding"
        shutil.rmtree(seeding, ignore_errors=True)
        seeding.mkdir()
        current = self.current_id()
        if current is not None and (self.folder(current) / EXPORTS).is_dir():
            shutil.copytree(self.folder(current) / EXPORTS, seeding / EXPORTS, copy_function=_link_or_copy)
        else:
            (seeding / EXPORTS).mkdir()
        os.replace(seeding, folder)
        return folder

    def adopt_legacy(self) -> None:
        """Outputs written before publications existed (a `report.duckdb` file, an export folder)
        become the first publication, unchanged; then the stable paths turn into links to the
        same content, each in one rename, so no reader sees a mix of old and new."""
        legacy_report = self.report_link.is_file() and not self.report_link.is_symlink()
        legacy_exports = self.export_dir.is_dir() and not self.export_dir.is_symlink()
        if self.current_id() is not None or not (legacy_report or legacy_exports):
            return
        folder = self.folder(LEGACY)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        if legacy_report:
            _link_or_copy(str(self.report_link), str(folder / REPORT_DB))
        if legacy_exports:
            # checked by stage(): what is hidden is irr's own temporary files
            shutil.copytree(self.export_dir, folder / EXPORTS, copy_function=_link_or_copy,
                            ignore=shutil.ignore_patterns(".*"))
        else:
            (folder / EXPORTS).mkdir()
        _sync_tree(folder)
        self._point_current(LEGACY)
        self.link_stable_paths()
        _mark_published(folder)

    def switch(self, run_id: str) -> None:
        """Make the run's staged folder the current publication: one rename, after a sync.

        The stable paths are links through `current`, made before it exists on a first
        publication (so they appear together with it) and never changed afterwards.
        """
        folder = self.folder(run_id)
        if not (folder / REPORT_DB).is_file():
            raise RuntimeError(f"publication {run_id} is not complete: {REPORT_DB} is missing")
        _sync_tree(folder)
        # DuckDB keeps a database's WAL beside the file a link resolves to, so a WAL left by
        # someone who wrote to a published file (only root can: it is read-only) stays with
        # that publication and never meets the new file. One beside the analysts' path can only
        # be left from the plain file of before publications: it belonged to that file.
        self.report_link.with_name(REPORT_DB + ".wal").unlink(missing_ok=True)
        self.link_stable_paths()
        outgoing = self.current_id()
        if outgoing is not None and not (self.folder(outgoing) / PUBLISHED_MARK).exists():
            # it was current (a run died between its switch and its mark): kept as published
            _mark_published(self.folder(outgoing))
        self._point_current(run_id)
        _mark_published(folder)

    def _point_current(self, run_id: str) -> None:
        _ensure_link(self.current_link, f"{PUBLICATIONS}/{run_id}")
        _sync_dir(self.warehouse)

    def link_stable_paths(self) -> None:
        """`warehouse/report.duckdb` and the export folder as links through `current` (where they
        may go was settled by check())."""
        _ensure_link(self.report_link, f"{CURRENT}/{REPORT_DB}")
        target = self.export_link_target()
        if self.export_dir.is_dir() and not self.export_dir.is_symlink():
            # a folder from before publications, already adopted: exchanged for the link in one step
            _check_legacy_exports(self.export_dir)
            aside = self.export_dir.with_name(f".{self.export_dir.name}.{os.getpid()}.old")
            shutil.rmtree(aside, ignore_errors=True)
            os.symlink(target, aside)
            _exchange(aside, self.export_dir)
            shutil.rmtree(aside)
        _ensure_link(self.export_dir, target)

    def prune(self) -> list[str]:
        """Remove staging folders of runs that died and publications older than the kept ones."""
        if not self.root.is_dir():
            return []
        current = self.current_id()
        published = sorted(
            (p for p in self.root.iterdir() if p.is_dir() and p.name != current and (p / PUBLISHED_MARK).exists()),
            key=lambda p: (p / PUBLISHED_MARK).stat().st_mtime, reverse=True,
        )
        keep = {current, *(p.name for p in published[:KEEP_PREVIOUS])}
        removed = []
        for path in self.root.iterdir():
            if path.name not in keep:
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
                removed.append(path.name)
        for tmp in self.warehouse.glob(".*.link"):  # left by a run killed inside _ensure_link
            tmp.unlink()
        for aside in self.export_dir.parent.glob(f".{self.export_dir.name}.*.old"):
            shutil.rmtree(aside) if aside.is_dir() and not aside.is_symlink() else aside.unlink()
        return removed


def _exchange(a: Path, b: Path) -> None:
    """Swap two names in one step (Linux renameat2 RENAME_EXCHANGE): a folder and a link."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd, rename_exchange = -100, 2
    if libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"cannot exchange {b} for a link: {os.strerror(code)}")


def _mark_published(folder: Path) -> None:
    """What prune() keeps: a folder that has been the current publication."""
    write_file(folder / PUBLISHED_MARK, datetime.now(timezone.utc).isoformat().encode())


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # a file system without hard links
        shutil.copy2(src, dst)


def _ensure_link(path: Path, target: str) -> None:
    """`path` becomes a symlink to `target`, replacing a file or a wrong link in one rename."""
    if path.is_symlink() and os.readlink(path) == target:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.link")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, path)


def _check_legacy_exports(export_dir: Path) -> None:
    """An export folder written before publications holds only what irr wrote there (period
    folders of CSV and HTML, the index, its temporary files), or the run stops naming the first
    other entry: the folder becomes a link, and nothing of anyone else's may be lost or published."""
    import re

    from dagster_project.partitions import PERIOD_PATTERN

    names = "|".join(re.escape(n) for n in (*_PERIOD_FILES, *_TOP_FILES))
    temporary = re.compile(rf"^\.({names})\.\d+\.tmp$")

    def ours(path: Path, names: tuple[str, ...]) -> bool:
        # a plain file (a link could publish anything it points at) that irr writes there
        return path.is_file() and not path.is_symlink() and (path.name in names or bool(temporary.match(path.name)))

    foreign = []
    for entry in sorted(export_dir.iterdir()):
        if ours(entry, _TOP_FILES):
            continue
        if entry.is_dir() and not entry.is_symlink() and PERIOD_PATTERN.fullmatch(entry.name):
            foreign += [f"{entry.name}/{f.name}" for f in sorted(entry.iterdir()) if not ours(f, _PERIOD_FILES)]
        else:
            foreign.append(entry.name)
    if foreign:
        raise PublicationError(
            f"export folder {export_dir} holds {foreign[0]!r}, which irr did not write; it becomes a link "
            "to the current publication: move what else it holds, or choose another IRR_EXPORT_DIR"
        )


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_tree(folder: Path) -> None:
    """Flush every file and folder of a publication to disk before it becomes visible."""
    for dirpath, _dirnames, filenames in os.walk(folder):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _sync_dir(Path(dirpath))
