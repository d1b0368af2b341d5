"""CONTRACT 1.2: every identifier form to its kind and canonical form; invalid identifiers."""

from __future__ import annotations

import pytest

from contract_cases import IDENTIFIER_CASES
from dagster_project.identifiers import normalize_text, phone_e164


@pytest.mark.parametrize("request_id", sorted(IDENTIFIER_CASES))
def test_identifier_kind_and_canonical_form(warehouse, request_id):
    _, item, kind, expected = IDENTIFIER_CASES[request_id]
    row = warehouse.execute(
        "select coalesce(kind, 'invalid'), canonical_value, invalid_reason "
        "from intermediate.int_identifiers_links_followed where request_id = ?",
        [request_id],
    ).fetchall()
    assert len(row) == 1, row
    got_kind, canonical, reason = row[0]
    assert got_kind == kind, f"{item!r}: {row[0]}"
    if kind == "invalid":
        assert reason == expected and canonical is None
    else:
        assert canonical == expected and reason is None


def test_invalid_identifiers_are_listed_in_data_quality_output(warehouse):
    listed = dict(warehouse.execute(
        "select request_id, invalid_reason from dq.dq_invalid_identifiers where request_id like 'I-%'"
    ).fetchall())
    expected = {rid: c[3] for rid, c in IDENTIFIER_CASES.items() if c[2] == "invalid"}
    assert listed == expected


def test_data_quality_output_counts_ip_addresses_per_country(warehouse):
    """A surge of identifiers read as IP addresses is visible per requesting country."""
    counts = dict(warehouse.execute(
        "select item, value from dq.dq_run_summary where section = 'identifiers read as IP addresses, by country'"
    ).fetchall())
    # I-X3, I-X11, I-X15, I-X17 and C-three-garbage (US); I-X12, I-X18, C-dotted-phone-es (ES);
    # I-X13, C-dotted-phones-ch (CH); I-X14 (DE); I-X16 (FR)
    assert counts == {"US": 5, "ES": 4, "CH": 2, "DE": 1, "FR": 1}


def test_data_quality_output_holds_no_identifier_text(warehouse):
    columns = [r[0] for r in warehouse.execute(
        "select column_name from information_schema.columns where table_schema = 'dq' and table_name = 'dq_invalid_identifiers'"
    ).fetchall()]
    assert "raw_value" not in columns and "canonical_value" not in columns


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ｊａｎｅ", "Jane"),
        ("ja\u200bne", "jane"),
        ("\u202ejane\u202c", "jane"),
        ("  jane   doe ", "jane doe"),
        ("\ufeffjane", "jane"),
        ("ja\U000E0041ne", "jane"),  # tag character (Cf)
        ("ja\ufe0fne", "jane"),  # variation selector
        ("ja\u034fne", "jane"),  # combining grapheme joiner
        (None, None),
    ],
)
def test_normalize_text(text, expected):
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("+1 (415) 555-0100", "GB", "+14155550100"),
        ("415.555.0100", "US", "+14155550100"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("0044 20 7946 0958", "US", "+442079460958"),
        ("tel:+442079460958", None, "+442079460958"),
        ("TEL: +44 20 7946 0958", "FR", "+442079460958"),
        ("12", "US", None),
        ("555-0100", "US", None),  # possible only as a local number
        ("415.555.0100", None, None),
        ("+", "US", None),
        ("9" * 80, "US", None),
    ],
)
def test_phone_e164(text, region, expected):
    assert phone_e164(text, region) == expected
