"""The dbt selections of the two dbt asset definitions, evaluated once per manifest.

dagster-dbt evaluates a selection such as `tag:per_period` with dbt-core's graph selector. It
imports dbt-core whenever it is installed (about 1 s here), but in a process whose dbt runs
elsewhere it needs it only for that. `irr run` keeps dbt-core out of its own process
(`cli.entry`; its dbt runs in processes of its own, warm_dbt.py), and dagster-dbt then takes the
path it has for dbt Fusion, where it evaluates only the selection of every node itself. So the
two selections below are evaluated by dagster-dbt's own function, with dbt-core, in another
interpreter (`python -P -m dagster_project.dbt_selections`), the first time a process without
dbt-core loads a manifest, and stored beside it with the hash of its bytes; such a process reads
them back (`use_stored_selections`). Processes with dbt-core (the webserver, the daemon, the
tests) evaluate them as dagster-dbt does by default.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

PER_PERIOD = "tag:per_period"
# (select, exclude, selector) of each dbt asset definition, as dagster-dbt passes them on
SELECTIONS = {
    "irr_dbt_models": ("fqn:*", PER_PERIOD, ""),
    "irr_dbt_period_models": (PER_PERIOD, "", ""),
}
STORED_NAME = "selections.json"


def manifest_hash(manifest_bytes: bytes) -> str:
    return hashlib.sha256(manifest_bytes).hexdigest()


def evaluate(manifest_bytes: bytes) -> dict:
    """The selections, evaluated by dagster-dbt with dbt-core (imported here)."""
    from dagster_dbt.compat import DBT_PYTHON_VERSION
    from dagster_dbt.utils import select_unique_ids

    from dagster_project.dbt_project import dbt_project

    if DBT_PYTHON_VERSION is None:
        raise RuntimeError("evaluating the dbt selections needs dbt-core, which this process cannot import")
    manifest = json.loads(manifest_bytes)
    return {
        "manifest_sha256": manifest_hash(manifest_bytes),
        "selections": [
            [select, exclude, selector,
             sorted(select_unique_ids(select=select, exclude=exclude, selector=selector, project=dbt_project,
                                      manifest_json=manifest))]
            for select, exclude, selector in SELECTIONS.values()
        ],
    }


def evaluate_elsewhere(manifest_bytes: bytes) -> dict:
    """`evaluate`, in a new interpreter (one that may import dbt-core): the bytes go to its
    stdin, the selections come back on its stdout."""
    # -P: the package installed with this interpreter, not a checkout in the working folder
    result = subprocess.run([sys.executable, "-P", "-m", "dagster_project.dbt_selections"],
                            input=manifest_bytes, capture_output=True, check=False)
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.decode(errors="replace").splitlines() if line.strip()]
        raise RuntimeError(f"evaluating the dbt selections failed: {lines[-1] if lines else 'no output'}")
    return json.loads(result.stdout)


def _read(data: Any, manifest_bytes: bytes) -> dict[tuple[str, str, str], frozenset[str]] | None:
    """The selections in `data` if they are those of these manifest bytes and every selection of
    SELECTIONS is among them (a change of the code may change a selection, not the manifest)."""
    if not isinstance(data, dict) or data.get("manifest_sha256") != manifest_hash(manifest_bytes):
        return None
    found = {(s, e, r): frozenset(ids) for s, e, r, ids in data["selections"]}
    return found if set(SELECTIONS.values()) <= set(found) else None


def stored(manifest_bytes: bytes, path: Path) -> dict[tuple[str, str, str], frozenset[str]] | None:
    """The selections stored at `path` for exactly these manifest bytes; None when there are none
    (no file, or one made from another manifest)."""
    try:
        return _read(json.loads(path.read_text()), manifest_bytes)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def store(data: dict, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def selections_of(manifest_bytes: bytes, stored_path: Path) -> dict[tuple[str, str, str], frozenset[str]]:
    """The selections of these manifest bytes: those stored, else evaluated in another
    interpreter and stored."""
    selections = stored(manifest_bytes, stored_path)
    if selections is not None:
        return selections
    # processes that start at once take turns (the manifest's lock file): one evaluates
    with open(stored_path.with_name(".prepare.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            selections = stored(manifest_bytes, stored_path)
            if selections is None:
                data = evaluate_elsewhere(manifest_bytes)
                selections = _read(data, manifest_bytes)
                store(data, stored_path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return selections


def use_stored_selections(manifest_path: Path, stored_path: Path) -> Mapping[str, Any]:
    """The manifest, read once, and dagster-dbt made to find the selections of exactly that
    manifest among the stored ones (evaluated in another interpreter first if missing or stale).

    Only for a process where dagster-dbt has no dbt-core: dagster-dbt's selection function (a
    private name of the pinned release) is wrapped, and any other selection or manifest still
    goes to it, which then says that it needs dbt-core.
    """
    import dagster_dbt.asset_utils as asset_utils

    manifest_bytes = manifest_path.read_bytes()
    selections = selections_of(manifest_bytes, stored_path)
    manifest = json.loads(manifest_bytes)
    original: Callable[..., Any] = getattr(asset_utils.select_unique_ids, "__wrapped__", asset_utils.select_unique_ids)

    def select_unique_ids(select: str, exclude: str, selector: str, project: Any,
                          manifest_json: Mapping[str, Any]) -> Any:
        ids = selections.get((select, exclude, selector)) if manifest_json is manifest else None
        if ids is None:
            return original(select=select, exclude=exclude, selector=selector, project=project,
                            manifest_json=manifest_json)
        return set(ids)

    select_unique_ids.__wrapped__ = original  # type: ignore[attr-defined]
    asset_utils.select_unique_ids = select_unique_ids
    return manifest


if __name__ == "__main__":
    json.dump(evaluate(sys.stdin.buffer.read()), sys.stdout)
