"""CONTRACT 3.2 details of the export writer."""

from __future__ import annotations

import pytest

from dagster_project.export import safe_cell
from dagster_project.partitions import period_value


@pytest.mark.parametrize(("period", "expected"), [("2023-H1", "Jan-Jun 2023"), ("2023-H2", "Jul-Dec 2023")])
def test_period_value(period, expected):
    assert period_value(period) == expected


def test_period_value_rejects_other_forms():
    with pytest.raises(ValueError):
        period_value("2023-Q1")


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
        ("+cmd", "'+cmd"),
        ("-1+2", "'-1+2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-3.5", "-3.5"),
        ("+1", "+1"),
        ("Spain", "Spain"),
        ("", ""),
    ],
)
def test_safe_cell_neutralises_formulas_but_not_numbers(cell, expected):
    assert safe_cell(cell) == expected
