"""Resources: where the raw drop, the warehouse and the exports live."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import ConfigurableResource

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_RAW_DIR = REPO_ROOT / "data" / "sample"


class IrrPaths(ConfigurableResource):
    """Folders of one deployment; relative paths are read from the working directory."""

    raw_dir: str = str(SAMPLE_RAW_DIR)
    warehouse_dir: str = "warehouse"
    export_dir: str = "exports"

    @property
    def raw_path(self) -> Path:
        return Path(self.raw_dir).expanduser().resolve()

    @property
    def warehouse_path(self) -> Path:
        return Path(self.warehouse_dir).expanduser().resolve()

    @property
    def export_path(self) -> Path:
        return Path(self.export_dir).expanduser().resolve()

    @property
    def warehouse_db(self) -> Path:
        return self.warehouse_path / "warehouse.duckdb"

    @property
    def report_db(self) -> Path:
        return self.warehouse_path / "report.duckdb"


def paths_from_env() -> IrrPaths:
    """IrrPaths from IRR_RAW_DIR, IRR_WAREHOUSE_DIR and IRR_EXPORT_DIR, with the contract's defaults."""
    return IrrPaths(
        raw_dir=os.environ.get("IRR_RAW_DIR") or str(SAMPLE_RAW_DIR),
        warehouse_dir=os.environ.get("IRR_WAREHOUSE_DIR") or "warehouse",
        export_dir=os.environ.get("IRR_EXPORT_DIR") or "exports",
    )
