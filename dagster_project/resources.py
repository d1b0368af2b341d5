"""Resources: where the raw drop, the warehouse and the exports live."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from dagster import ConfigurableResource

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_RAW_DIR = REPO_ROOT / "data" / "sample"
# Dagster concurrency pool of every step that writes warehouse.duckdb (limit 1 in dagster_home/dagster.yaml).
WAREHOUSE_POOL = "warehouse"


class IrrPaths(ConfigurableResource):
    """Folders of one deployment.

    A field left unset is read from its environment variable when the run starts
    (IRR_RAW_DIR, IRR_WAREHOUSE_DIR, IRR_EXPORT_DIR), else the contract's default;
    relative paths are read from the working directory.
    """

    raw_dir: Optional[str] = None
    warehouse_dir: Optional[str] = None
    export_dir: Optional[str] = None

    @property
    def raw_path(self) -> Path:
        return _folder(self.raw_dir, "IRR_RAW_DIR", str(SAMPLE_RAW_DIR))

    @property
    def warehouse_path(self) -> Path:
        return _folder(self.warehouse_dir, "IRR_WAREHOUSE_DIR", "warehouse")

    @property
    def export_path(self) -> Path:
        return _folder(self.export_dir, "IRR_EXPORT_DIR", "exports")

    @property
    def warehouse_db(self) -> Path:
        return self.warehouse_path / "warehouse.duckdb"

    @property
    def report_db(self) -> Path:
        return self.warehouse_path / "report.duckdb"


def _folder(configured: Optional[str], variable: str, default: str) -> Path:
    value = configured or os.environ.get(variable) or default
    return Path(value).expanduser().resolve()
