"""The dbt project, declared once; its manifest is prepared by `irr prepare`, `irr run` or `dagster dev`."""

from __future__ import annotations

from pathlib import Path

from dagster_dbt import DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt"
SEEDS_DIR = DBT_PROJECT_DIR.parent / "seeds"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
