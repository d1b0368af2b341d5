"""The persistent Dagster instance that every irr run is recorded in (DAGSTER_HOME)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef

from dagster_project.resources import IrrPaths

INSTANCE_TEMPLATE = Path(__file__).with_name("dagster.yaml")


def dagster_home(paths: IrrPaths) -> Path:
    """DAGSTER_HOME if set, else `<warehouse>/dagster_home`; given our dagster.yaml if it has none."""
    configured = os.environ.get("DAGSTER_HOME")
    home = Path(configured).expanduser().resolve() if configured else paths.warehouse_path / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        tmp = home / f".dagster.yaml.{os.getpid()}"
        tmp.write_text(INSTANCE_TEMPLATE.read_text())
        os.replace(tmp, config)
    return home


@contextmanager
def irr_instance(paths: IrrPaths) -> Iterator[DagsterInstance]:
    """The instance `dagster dev`, the webserver and the daemon show when pointed at the same home."""
    home = dagster_home(paths)
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home), overrides=_faster_event_log(home))) as instance:
        yield instance


def _faster_event_log(home: Path) -> dict:
    """Our SQLite event log class (event_log.py) for this process, unless the instance's
    dagster.yaml chose its storage (Postgres, another class): then that is used as configured."""
    configured = yaml.safe_load((home / "dagster.yaml").read_text()) or {}
    if any(key in configured for key in ("storage", "event_log_storage", "run_storage", "schedule_storage")):
        return {}
    return {"event_log_storage": {
        "module": "dagster_project.event_log", "class": "IrrSqliteEventLogStorage",
        "config": {"base_dir": str(home / "history" / "runs")},
    }}
