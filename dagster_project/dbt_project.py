"""The dbt project, declared once: where it lives, which dbt runs it, and its manifest kept fresh."""

from __future__ import annotations

import fcntl
import hashlib
import os
from importlib import metadata
import shutil
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from packaging.version import Version

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt"
SEEDS_DIR = DBT_PROJECT_DIR.parent / "seeds"
# The manifest the Dagster definitions are made from (code, not data: it lives with the project).
MANIFEST_TARGET = DBT_PROJECT_DIR / "target"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target_path=MANIFEST_TARGET)


class IrrDbtCliResource(DbtCliResource):
    """dbt as a subprocess, without two fixed costs dagster-dbt pays on every invocation.

    It loads dbt's adapter into the Dagster process (4-6 s here) only to fetch optional column
    metadata and row counts, which irr does not ask for; and it runs `dbt --version` twice
    (about 1.5 s each) to learn a version that the installed dbt-core package already states.
    Both are private hooks of the pinned dagster-dbt; were they renamed, runs would only be slower.
    """

    def _initialize_dbt_core_adapter(self, args):  # noqa: ANN001 - dagster-dbt's private hook
        return None

    @property
    def _cli_version(self) -> Version:
        return Version(metadata.version("dbt-core"))


class DbtNotFound(RuntimeError):
    """No dbt executable beside the interpreter nor on PATH."""


def dbt_executable(required: bool = True) -> str:
    """The dbt installed beside this interpreter (a venv that nobody activated), else the one on PATH.

    With `required=False` a missing dbt yields the bare name, so definitions still load and the
    run says what is missing.
    """
    beside = Path(sys.executable).with_name("dbt")  # not resolved: a venv's python is a link
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("dbt")
    if found:
        return found
    if required:
        raise DbtNotFound(
            f"dbt not found beside {sys.executable} nor on PATH; install the project with "
            '`python -m pip install -e .` into that interpreter'
        )
    return "dbt"


def dbt_launcher() -> str:
    """What runs dbt for the assets: `irr-dbt` beside this interpreter (dbt that dies with its
    run, see dbt_child.py), else dbt itself."""
    beside = Path(sys.executable).with_name("irr-dbt")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return dbt_executable(required=False)


# What a run tells its dbt (assets/dbt.py `_build`, which sets only those it is given): never
# what the manifest is parsed with, or the state it leaves would differ from what a run's dbt
# sees, which would then parse again.
RUN_VARIABLES = ("IRR_GROUP_SLICES", "IRR_PERIOD_FROM", "IRR_PERIOD_TO", "IRR_RUN_ID",
                 "IRR_CURRENT_PUBLICATION", "IRR_INPUT_FINGERPRINT")


def parse_environment() -> dict[str, str]:
    """The environment of `dbt parse` (the manifest): dbt's, without a run's variables that an
    earlier run of this process, or the shell, left set."""
    return {name: value for name, value in dbt_environment().items() if name not in RUN_VARIABLES}


def dbt_environment(**extra: str) -> dict[str, str]:
    """The environment of every dbt subprocess: no telemetry (offline it waits on the network), no colours."""
    from dagster_project.resources import WAREHOUSE_DB

    # the profile's database as every run's dbt names it (from the warehouse folder): the
    # partial-parse state written here is then valid for every warehouse
    return {**os.environ, "DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_USE_COLORS": "false", "IRR_WAREHOUSE_DB": WAREHOUSE_DB, **extra}


def _source_files() -> list[Path]:
    """The files dbt parses (project, profile, models, macros, tests, seeds), in name order."""
    folders = [DBT_PROJECT_DIR / name for name in ("models", "macros", "tests")] + [SEEDS_DIR]
    files = [p for folder in folders for p in folder.rglob("*") if p.is_file()]
    files += [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    return sorted(p for p in files if p.exists())


def _names_stamp(files: list[Path]) -> str:
    """The set of the files' names: a file removed (or renamed) changes it, not a newer time."""
    names = (os.path.relpath(p, DBT_PROJECT_DIR.parent) for p in files)
    return hashlib.sha256("\0".join(names).encode()).hexdigest()


def ensure_manifest(force: bool = False) -> Path:
    """Build the manifest with `dbt parse` when it is missing, older than one of the project's
    files, or made from another set of files (one was removed or renamed).

    Processes that start at once take turns on a lock file, so none reads a manifest that another
    is writing; a fresh manifest costs one stat of each project file.
    """
    manifest = MANIFEST_TARGET / "manifest.json"
    stamp = MANIFEST_TARGET / "sources.sha256"
    MANIFEST_TARGET.mkdir(parents=True, exist_ok=True)
    with open(MANIFEST_TARGET / ".prepare.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            files = _source_files()
            names = _names_stamp(files)
            stale = (force or not manifest.exists() or not stamp.exists() or stamp.read_text() != names
                     or manifest.stat().st_mtime <= max((p.stat().st_mtime for p in files), default=0.0))
            if stale:
                _parse()
                stamp.write_text(names)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return manifest


def _parse() -> None:
    tmp_target = MANIFEST_TARGET / f".parse-{os.getpid()}"
    result = subprocess.run(
        [dbt_executable(), "--quiet", "parse", "--project-dir", str(DBT_PROJECT_DIR),
         "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(tmp_target)],
        env=parse_environment() | {"DBT_LOG_PATH": str(tmp_target)}, capture_output=True, text=True, check=False,
    )
    try:
        if result.returncode != 0:
            lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
            raise RuntimeError(f"dbt parse failed: {lines[-1] if lines else 'no output'}")
        for name in ("manifest.json", "partial_parse.msgpack"):
            if (tmp_target / name).exists():
                os.replace(tmp_target / name, MANIFEST_TARGET / name)
    finally:
        shutil.rmtree(tmp_target, ignore_errors=True)
