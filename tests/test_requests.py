"""CONTRACT 1.1: current state, periods, country forms and quarantine of bad lines."""

from __future__ import annotations

import pytest

from contract_cases import COUNTRY_CASES, EVENT_CASES, PERIOD_CASES, QUARANTINE_CASES


@pytest.mark.parametrize("request_id", sorted(EVENT_CASES))
def test_current_state_is_latest_event(warehouse, request_id):
    got = warehouse.execute(
        "select outcome, period from staging.stg_requests__current where request_id = ?", [request_id]
    ).fetchone()
    assert got == EVENT_CASES[request_id]


@pytest.mark.parametrize("request_id", sorted(PERIOD_CASES))
def test_period_of_received_at_in_utc(warehouse, request_id):
    got = warehouse.execute(
        "select period from staging.stg_requests__current where request_id = ?", [request_id]
    ).fetchone()
    assert got == (PERIOD_CASES[request_id][1],)


@pytest.mark.parametrize("request_id", sorted(COUNTRY_CASES))
def test_country_forms(warehouse, request_id):
    got = warehouse.execute(
        "select country_code from staging.stg_requests__current where request_id = ?", [request_id]
    ).fetchone()
    assert got == (COUNTRY_CASES[request_id][1],)


def test_bad_lines_are_quarantined_with_file_line_and_reason(warehouse):
    got = warehouse.execute(
        "select line_number, quarantine_reason from dq.dq_quarantined_lines where file_name = 'q.jsonl' "
        "order by line_number"
    ).fetchall()
    assert got == [(i, reason) for i, (_, reason) in enumerate(QUARANTINE_CASES, start=1)]


def test_broken_later_event_is_quarantined_in_the_gzip_file(warehouse):
    got = warehouse.execute(
        "select file_name, quarantine_reason from dq.dq_quarantined_lines where file_name <> 'q.jsonl'"
    ).fetchall()
    assert got == [("b.jsonl.gz", "unknown country")]


def test_rows_in_equal_rows_reported_plus_quarantined(warehouse):
    lines = warehouse.execute("select count(*) from raw.request_lines").fetchone()[0]
    accepted = warehouse.execute("select count(*) from staging.stg_requests__events where is_accepted").fetchone()[0]
    quarantined = warehouse.execute("select count(*) from dq.dq_quarantined_lines").fetchone()[0]
    current = warehouse.execute("select count(*) from staging.stg_requests__current").fetchone()[0]
    reported = warehouse.execute("select sum(total_requests) from reporting.information_requests").fetchone()[0]
    superseded = accepted - current
    assert lines == accepted + quarantined
    assert quarantined == len(QUARANTINE_CASES) + 1
    assert reported == current
    # superseded: one each in three two-event cases, two in the three-event tie (the broken one is quarantined)
    assert superseded == 5


def test_summary_counts_lines_per_file(warehouse):
    got = dict(warehouse.execute(
        "select item, value from dq.dq_run_summary where section = 'lines read'"
    ).fetchall())
    assert got["q.jsonl"] == len(QUARANTINE_CASES)
    assert got["b.jsonl.gz"] == 7  # 1 + 1 + 3 + 1 + 1 events written to b
