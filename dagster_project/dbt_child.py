"""`irr-dbt`: dbt, started so that it dies with the process that started it.

A run's dbt is a child process. Were the run killed outright (SIGKILL, the OOM killer), dbt
would go on writing the warehouse after the run's lock was released. This launcher asks Linux to
kill it when its parent dies (PR_SET_PDEATHSIG, kept across exec), then becomes the dbt installed
beside the same interpreter. It imports nothing heavy: it adds a few milliseconds per invocation.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from dagster_project import warm_dbt


def main() -> None:
    # the process that started us, as it said (IRR_DBT_PARENT); else whoever is our parent now.
    # Read from the environment because the parent may die while this interpreter starts, and
    # our parent would then already be the reaper.
    parent = int(os.environ.get("IRR_DBT_PARENT") or os.getppid())
    if not warm_dbt.die_with_parent(parent):  # the parent died before the request took effect
        sys.exit(1)
    beside = Path(sys.executable).with_name("dbt")
    dbt = str(beside) if beside.is_file() and os.access(beside, os.X_OK) else shutil.which("dbt")
    if dbt is None:
        sys.exit(f"dbt not found beside {sys.executable} nor on PATH")
    # dbt works in the warehouse's folder (IRR_DBT_CWD), where the profile's database path,
    # the same relative name for every warehouse, points: dbt's partial-parse state, keyed on
    # the profile, then serves every warehouse (an absolute path would make each new one parse
    # the project whole). The project stays where it was started from.
    workdir = os.environ.get("IRR_DBT_CWD")
    if workdir:
        os.environ.setdefault("DBT_PROJECT_DIR", os.getcwd())
        os.chdir(workdir)
    address = os.environ.get("IRR_DBT_SERVER")
    if address:  # an irr run's dbt that has already started (warm_dbt.py)
        status = warm_dbt.call(address, [dbt, *sys.argv[1:]], dict(os.environ), os.getcwd())
        if status is not None:
            warm_dbt.exit_as(status)
    os.execv(dbt, [dbt, *sys.argv[1:]])


if __name__ == "__main__":
    main()
