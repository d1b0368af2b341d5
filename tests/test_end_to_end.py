"""End to end: the Dagster job in-process on a small hand-written drop; every report cell checked."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from contract_cases import ACCOUNTS, SHORT_LINKS, VIDEOS
from dagster_project.dbt_project import DBT_PROJECT_DIR
from drops import compiled_match, dbt_by_hand, event, run_in_process, write_drop

H2 = "2023-08-15T12:00:00Z"
H1 = "2024-02-01T00:00:00Z"


# The directory as a platform may write it despite CONTRACT 1.3 (values canonical): spaces around a
# value, capitals in an email and a username. Each is made canonical before the match
# (int_directory_named), so the figures below are those of the canonical directory; the contract
# drop's directory, canonical, is matched as written.
WRITTEN_OTHERWISE = {"jane.doe@example.com": " Jane.Doe@Example.com", "bob": "BOB\u3000", "+442079460958": "\u00a0+442079460958 "}
DIRECTORY = [(account, kind, WRITTEN_OTHERWISE.get(value, value), *times) for account, kind, value, *times in ACCOUNTS]


def e2e_drop(root: Path) -> Path:
    return write_drop(
        root,
        {
            "2023.jsonl": [
                event("U1", ["@jane.doe", "jane.doe@example.com"], outcome="pending", received_at=H2,
                      updated_at="2023-08-16T00:00:00Z"),
                event("U1", ["@jane.doe", "jane.doe@example.com"], outcome="disclosed", received_at=H2,
                      updated_at="2023-09-01T00:00:00Z"),
                event("U2", ["@bob", "carol@example.com"], outcome="rejected", received_at=H2,
                      nondisclosure_order=True),
                event("U3", ["415.555.0100"], request_type="emergency", outcome="disclosed", received_at=H2),
                # a non-disclosure order on a preservation request: not a legal request
                event("U4", ["@ghost"], request_type="preservation", outcome="preserved", received_at=H2,
                      nondisclosure_order=True),
                event("G1", ["+44 20 7946 0958"], country="United Kingdom", outcome="not_disclosed", received_at=H2,
                      nondisclosure_order=None),  # not known
                event("G2", ["N/A"], country="gb", request_type="Emergency", outcome="DISCLOSED", received_at=H2),
                event("G3", ["@bob", "020 7946 0958"], country=" GB ", request_type="emergency",
                      outcome="not_disclosed", received_at=H2),
                '{"request_id": "broken", ',
            ],
            "2024.jsonl": [
                event("D1", [], country="Germany", outcome="disclosed", received_at=H1, nondisclosure_order=False),
                event("D2", ["@jane.doe", "@new.name"], country="DE", outcome="disclosed", received_at=H1,
                      nondisclosure_order=True),
                event("F1", ["uid:6812345678901234567"], country="France", request_type="preservation",
                      outcome="preserved", received_at=H1),
            ],
        },
        DIRECTORY, VIDEOS, SHORT_LINKS,
    )


COLUMNS = (
    "period", "period_start", "period_end", "country_code", "country_name",
    "legal_requests", "emergency_requests", "preservation_requests", "total_requests",
    "legal_requests_disclosed", "emergency_requests_disclosed",
    "legal_disclosure_rate", "emergency_disclosure_rate",
    "legal_accounts_specified", "emergency_accounts_specified", "preservation_accounts_specified",
    "legal_requests_nondisclosure_order",
)
H2_START, H2_END = date(2023, 7, 1), date(2023, 12, 31)
H1_START, H1_END = date(2024, 1, 1), date(2024, 6, 30)
EXPECTED_BY_COUNTRY = [
    ("2023-H2", H2_START, H2_END, "GB", "United Kingdom", 1, 2, 0, 3, 0, 1, 0.0, 0.5, 1, 1, 0, 0),
    ("2023-H2", H2_START, H2_END, "US", "United States", 2, 1, 1, 4, 1, 1, 0.5, 1.0, 3, 1, 1, 1),
    ("2024-H1", H1_START, H1_END, "DE", "Germany", 2, 0, 0, 2, 2, 0, 1.0, None, 2, 0, 0, 1),
    ("2024-H1", H1_START, H1_END, "FR", "France", 0, 0, 1, 1, 0, 0, None, None, 0, 0, 1, 0),
]
EXPECTED_GLOBAL = [
    ("2023-H2", H2_START, H2_END, 2, 3, 3, 1, 7, 1, 2, 1 / 3, 2 / 3, 4, 2, 1, 1),
    ("2024-H1", H1_START, H1_END, 2, 2, 0, 1, 3, 2, 0, 1.0, None, 2, 0, 1, 1),
]
EXPECTED_EXPORT_2023_H2 = """\
replication_info,entity,aspect,metric_name,period,period_value,policy,policy_value,task,task_value,location,location_value,result,base,date
,LIGR,LRFUI,Total requests,half-year,Jul-Dec 2023,all,all,all,all,country_name,United Kingdom,3.0,,
,LIGR,LRFUI,Legal requests,half-year,Jul-Dec 2023,all,all,all,all,country_name,United Kingdom,1.0,,
,LIGR,LRFUI,Legal request accounts specified,half-year,Jul-Dec 2023,all,all,all,all,country_name,United Kingdom,1.0,,
,LIGR,LRFUI,Percentage of legal requests where some data was disclosed,half-year,Jul-Dec 2023,all,all,all,all,country_name,United Kingdom,0.0,,
,LIGR,LRFUI,Legal requests with a non-disclosure order,half-year,Jul-Dec 2023,all,all,all,all,country_name,United Kingdom,0.0,,
,LIGR,LRFUI,Preservation requests,half-year,Jul-Dec 2023,all,all,all,all,country_name,United Kingdom,0.0,,
,LIGR,LRFUI,Preservation request accounts specified,half-year,Jul-Dec 2023,all,all,all,all,country_name,United Kingdom,0.0,,
,LIGR,LRFUI,Emergency requests,half-year,Jul-Dec 2023,all,all,all,all,country_name,United Kingdom,2.0,,
,LIGR,LRFUI,Emergency request accounts specified,half-year,Jul-Dec 2023,all,all,all,all,country_name,United Kingdom,1.0,,
,LIGR,LRFUI,Percentage of emergency requests where some data was disclosed,half-year,Jul-Dec 2023,all,all,all,all,country_name,United Kingdom,0.5,,
,LIGR,LRFUI,Total requests,half-year,Jul-Dec 2023,all,all,all,all,country_name,United States,4.0,,
,LIGR,LRFUI,Legal requests,half-year,Jul-Dec 2023,all,all,all,all,country_name,United States,2.0,,
,LIGR,LRFUI,Legal request accounts specified,half-year,Jul-Dec 2023,all,all,all,all,country_name,United States,3.0,,
,LIGR,LRFUI,Percentage of legal requests where some data was disclosed,half-year,Jul-Dec 2023,all,all,all,all,country_name,United States,0.5,,
,LIGR,LRFUI,Legal requests with a non-disclosure order,half-year,Jul-Dec 2023,all,all,all,all,country_name,United States,1.0,,
,LIGR,LRFUI,Preservation requests,half-year,Jul-Dec 2023,all,all,all,all,country_name,United States,1.0,,
,LIGR,LRFUI,Preservation request accounts specified,half-year,Jul-Dec 2023,all,all,all,all,country_name,United States,1.0,,
,LIGR,LRFUI,Emergency requests,half-year,Jul-Dec 2023,all,all,all,all,country_name,United States,1.0,,
,LIGR,LRFUI,Emergency request accounts specified,half-year,Jul-Dec 2023,all,all,all,all,country_name,United States,1.0,,
,LIGR,LRFUI,Percentage of emergency requests where some data was disclosed,half-year,Jul-Dec 2023,all,all,all,all,country_name,United States,1.0,,
,LIGR,LRFUI,Total legal requests,half-year,Jul-Dec 2023,all,all,all,all,all,All,3.0,,
,LIGR,LRFUI,Total emergency requests,half-year,Jul-Dec 2023,all,all,all,all,all,All,3.0,,
,LIGR,LRFUI,Total preservation requests,half-year,Jul-Dec 2023,all,all,all,all,all,All,1.0,,
"""


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    run_in_process(e2e_drop(root / "raw"), root)
    return root


def _rows(db: Path, table: str, columns) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"select {', '.join(columns)} from reporting.{table} order by all").fetchall()


def _approx(rows):
    return [tuple(pytest.approx(v) if isinstance(v, float) else v for v in row) for row in rows]


def test_report_by_country_every_cell(e2e):
    assert _rows(e2e / "warehouse" / "report.duckdb", "information_requests", COLUMNS) == _approx(EXPECTED_BY_COUNTRY)


def test_report_global_every_cell(e2e):
    columns = ("period", "period_start", "period_end", "countries", *COLUMNS[5:])
    assert _rows(e2e / "warehouse" / "report.duckdb", "information_requests_global", columns) == _approx(EXPECTED_GLOBAL)


def test_report_column_types_match_contract(e2e):
    with duckdb.connect(str(e2e / "warehouse" / "report.duckdb"), read_only=True) as con:
        types = dict(con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'reporting' and table_name = 'information_requests'"
        ).fetchall())
    assert list(types) == list(COLUMNS)
    assert {c: types[c] for c in ("period", "country_code", "country_name")} == {
        "period": "VARCHAR", "country_code": "VARCHAR", "country_name": "VARCHAR"}
    assert types["period_start"] == types["period_end"] == "DATE"
    assert types["legal_disclosure_rate"] == types["emergency_disclosure_rate"] == "DOUBLE"
    assert {types[c] for c in COLUMNS[5:11] + COLUMNS[13:]} == {"BIGINT"}


def test_every_published_table_and_column_carries_its_description(e2e):
    with duckdb.connect(str(e2e / "warehouse" / "report.duckdb"), read_only=True) as con:
        tables = con.execute("select table_name, comment from duckdb_tables() where schema_name = 'reporting'").fetchall()
        columns = con.execute("select table_name, column_name, comment from duckdb_columns() "
                              "where schema_name = 'reporting'").fetchall()
    # every table the dbt yml declares for report.duckdb: the reporting models and the history
    from dagster_project.publish import published_tables

    assert len(tables) == len(published_tables()) == 13 and all(comment for _, comment in tables), tables
    assert [c for c in columns if not c[2]] == []
    described = {(t, c): comment for t, c, comment in columns}
    assert described["information_requests", "legal_requests_nondisclosure_order"].startswith(
        "Legal requests whose current state came with a non-disclosure order")


def test_report_database_holds_only_the_reporting_schema(e2e):
    with duckdb.connect(str(e2e / "warehouse" / "report.duckdb"), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables order by all"
        ).fetchall()
    assert tables == [
        ("reporting", "information_requests"),
        ("reporting", "information_requests_accounts"),
        ("reporting", "information_requests_by_agency"),
        ("reporting", "information_requests_by_legal_process"),
        ("reporting", "information_requests_by_legal_process_global"),
        ("reporting", "information_requests_by_outcome"),
        ("reporting", "information_requests_by_outcome_global"),
        ("reporting", "information_requests_change"),
        ("reporting", "information_requests_global"),
        ("reporting", "information_requests_timing"),
        ("reporting", "information_requests_versions"),
        ("reporting", "report_versions"),
        ("reporting", "restatements"),
    ]


def test_account_groups_built_in_slices_are_the_same_rows(e2e, tmp_path):
    """A large drop builds the account groups in slices of requests, one statement each
    (IRR_GROUP_SLICES, so that the recursive CTE's memory follows the slice): the same rows."""
    import shutil

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(e2e / "warehouse" / "warehouse.duckdb", warehouse)
    query = "select * from intermediate.int_request_account_groups order by all"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        whole = con.execute(query).fetchall()
    result = dbt_by_hand(["run", "--select", "int_request_account_groups"], warehouse, tmp_path,
                          IRR_GROUP_SLICES="3")
    assert "insert into" in (tmp_path / "logs" / "dbt.log").read_text()  # the slices after the first
    with duckdb.connect(str(warehouse), read_only=True) as con:
        sliced = con.execute(query).fetchall()
        requests = con.execute("select count(distinct request_id) from intermediate.int_request_account_groups"
                               ).fetchone()[0]
    assert sliced == whole and requests >= 6, result.stdout[-2000:]
    assert len({key for _, _, key in whole}) < len(whole)  # some groups hold several identifiers


def test_a_figure_that_breaks_a_rule_fails_its_models_check_and_names_the_rule(e2e, tmp_path):
    """A model's row rules are one dbt test (row_rules): a figure that breaks one fails it, the
    failure count is the rows that break a rule, and the failing rows name each rule broken."""
    import shutil

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(e2e / "warehouse" / "warehouse.duckdb", warehouse)
    result = dbt_by_hand(["test", "--select", "information_requests"], warehouse, tmp_path)
    assert "PASS information_requests_figures_hold" in result.stdout, result.stdout[-3000:]
    with duckdb.connect(str(warehouse)) as con:
        rows = con.execute("select period, country_code from reporting.information_requests "
                           "where legal_requests > 0 "
                           "order by period, country_code limit 3").fetchall()
        # each change breaks the rules named below, and only those
        breaks = ["legal_disclosure_rate = 1.5",
                  "preservation_requests = -1, total_requests = legal_requests + emergency_requests - 1",
                  "preservation_accounts_specified = null, total_requests = total_requests + 1"]
        for (period, country), change in zip(rows, breaks):
            con.execute(f"update reporting.information_requests set {change} "
                        "where period = ? and country_code = ?", [period, country])
    result = dbt_by_hand(["test", "--select", "information_requests"], warehouse, tmp_path, succeeds=False)
    assert "Failure in test information_requests_figures_hold" in result.stdout, result.stdout[-3000:]
    assert "Got 4 results" in result.stdout, result.stdout[-3000:]  # four rules broken by a row each
    compiled = next((tmp_path / "target" / "compiled").rglob("information_requests_figures_hold.sql"))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        broken = dict(con.execute(compiled.read_text()).fetchall())
    assert broken == {"legal_disclosure_rate_is_a_fraction": 1, "preservation_requests_is_a_count": 1,
                      "preservation_accounts_specified_is_a_count": 1, "total_is_the_sum_of_the_types": 1}


def test_a_dbt_build_by_hand_adds_and_confirms_no_version(e2e, tmp_path):
    """Outside a run (no run id, no current publication) the history models change nothing."""
    import shutil

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(e2e / "warehouse" / "warehouse.duckdb", warehouse)
    with duckdb.connect(str(warehouse)) as con:
        # as a run that died before its switch leaves it
        con.execute("update history.report_versions set is_published = false where period = '2024-H1'")
        before = con.execute("select * exclude (is_published) from history.report_versions order by all").fetchall()
    result = dbt_by_hand(["build", "--select", "path:models/history"], warehouse, tmp_path)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        after = con.execute("select * exclude (is_published), is_published from history.report_versions "
                            "order by all").fetchall()
    # the pending version of no current publication is dropped, nothing is added or confirmed
    assert [row[:-1] for row in after] == [row for row in before if row[0] != "2024-H1"]
    assert all(row[-1] for row in after)


def test_every_warehouse_table_past_the_raw_load_is_a_dbt_model_or_seed(e2e):
    """dbt owns every table after the raw load: the report, its history, the export's rows."""
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    declared = {(n["schema"], n.get("alias") or n["name"]) for n in manifest["nodes"].values()
                if n["resource_type"] in ("model", "seed") and n["config"].get("materialized") != "ephemeral"}
    with duckdb.connect(str(e2e / "warehouse" / "warehouse.duckdb"), read_only=True) as con:
        tables = set(con.execute(
            "select schema_name, table_name from duckdb_tables() where schema_name <> 'raw' "
            "union all select schema_name, view_name from duckdb_views() where not internal and schema_name <> 'raw'"
        ).fetchall())
    assert tables == declared
    assert {"report_versions", "information_requests_versions", "restatements"} <= {t for s, t in tables if s == "history"}


def test_each_version_records_the_fingerprint_of_the_drop_it_was_computed_from(e2e):
    """sha256 over each file's path and the sha256 of its bytes, in path order (history.yml); the
    load recorded the digests of the request files it hashed (raw.drop_files)."""
    raw = e2e / "raw"
    digest = hashlib.sha256()
    for path in sorted(p for p in raw.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(raw).as_posix()}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\0"
                      .encode())
    with duckdb.connect(str(e2e / "warehouse" / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select distinct input_fingerprint from history.report_versions").fetchall() == [
            (digest.hexdigest(),)]
        recorded = {row[0] for row in con.execute("select path from raw.drop_files").fetchall()}
    assert recorded == {p.relative_to(raw).as_posix() for p in (raw / "requests").iterdir()}


def test_report_database_holds_no_identifier(e2e):
    identifiers = {"jane.doe", "jane.doe@example.com", "bob", "carol@example.com", "415.555.0100",
                   "+14155550100", "+442079460958", "ghost", "new.name", "6812345678901234567", "U1", "G1"}
    with duckdb.connect(str(e2e / "warehouse" / "report.duckdb"), read_only=True) as con:
        for schema, table, column in con.execute(
            "select table_schema, table_name, column_name from information_schema.columns"
        ).fetchall():
            values = {str(v[0]).lower() for v in con.execute(f'select "{column}" from {schema}.{table}').fetchall()}
            assert not values & {i.lower() for i in identifiers}, (table, column)


def test_export_file_exactly(e2e):
    text = (e2e / "exports" / "2023-H2" / "information_requests.csv").read_text(encoding="utf-8")
    assert text == EXPECTED_EXPORT_2023_H2


def test_export_global_rows_for_second_period(e2e):
    lines = (e2e / "exports" / "2024-H1" / "information_requests.csv").read_text().splitlines()
    assert lines[-3:] == [
        ",LIGR,LRFUI,Total legal requests,half-year,Jan-Jun 2024,all,all,all,all,all,All,2.0,,",
        ",LIGR,LRFUI,Total emergency requests,half-year,Jan-Jun 2024,all,all,all,all,all,All,0.0,,",
        ",LIGR,LRFUI,Total preservation requests,half-year,Jan-Jun 2024,all,all,all,all,all,All,1.0,,",
    ]
    # France has no legal or emergency request: the rates are written as 0.0
    assert ",LIGR,LRFUI,Percentage of legal requests where some data was disclosed,half-year,Jan-Jun 2024,all,all,all,all,country_name,France,0.0,," in lines
    assert len(lines) == 1 + 2 * 10 + 3  # header, ten metrics for each of two countries, three global rows


def test_quarantined_line_is_counted(e2e):
    with duckdb.connect(str(e2e / "warehouse" / "warehouse.duckdb"), read_only=True) as con:
        got = con.execute("select file_name, line_number, quarantine_reason from dq.dq_quarantined_lines").fetchall()
    assert got == [("2023.jsonl", 9, "invalid JSON")]


def test_a_directory_written_otherwise_is_made_canonical_before_the_match(e2e):
    """WRITTEN_OTHERWISE: the profile counted values that may not be canonical, so the match made
    each canonical (the figures above are those of the canonical directory), and the data-quality
    account shows the count."""
    assert "where (identifier_type, case when identifier_type in ('username', 'email') then lower(trim(" \
        in compiled_match(e2e / "warehouse" / "dbt")
    # and the data-quality account says so: Jane's email, Bob's username, the phone Bob and Carol share
    with duckdb.connect(str(e2e / "warehouse" / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select value from dq.dq_run_summary where section = 'directory' "
                           "and item like 'rows whose value may not be canonical%'").fetchall() == [(4,)]


def test_dbt_unit_tests_pass_on_their_fixed_rows(e2e, tmp_path):
    """The dbt `unit_tests:` (classification of CONTRACT 1.2, account groups on small graphs, the
    directory rows the requests name, as written and made canonical, the directory profile); dbt
    reads the input tables' column types from a built warehouse: the e2e one."""
    result = dbt_by_hand(["test", "--select", "test_type:unit"], e2e / "warehouse" / "warehouse.duckdb", tmp_path)
    passed = [line for line in result.stdout.splitlines() if " PASS " in line and "::" in line]
    assert len(passed) == 8 and "ERROR=0" in result.stdout, result.stdout[-3000:]


def test_request_lines_are_parsed_again_only_for_files_that_changed(e2e, tmp_path):
    """stg_requests__lines_parsed is incremental by file (raw.request_files' sha256): a file loaded
    from the same bytes keeps its parsed rows, a changed file is parsed again, a file gone leaves
    no row, and the events are those of a build from nothing."""
    import shutil

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(e2e / "warehouse" / "warehouse.duckdb", warehouse)
    parsed = "staging.stg_requests__lines_parsed"
    models = ["run", "--select", "stg_requests__lines_parsed", "stg_requests__events"]
    with duckdb.connect(str(warehouse)) as con:
        # a third file, parsed by the first build below, then gone from the drop
        con.execute("insert into raw.request_lines select 'extra.jsonl', 3, line_number, line_text, is_valid_utf8, "
                    "has_nul_byte, not_read_reason from raw.request_lines where file_name = '2024.jsonl'")
        con.execute("insert into raw.request_files select 'extra.jsonl', 3, 'e', reader_version, lines "
                    "from raw.request_files where file_name = '2024.jsonl'")
    dbt_by_hand(models, warehouse, tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        assert con.execute(f"select count(*) from {parsed} where file_name = 'extra.jsonl'").fetchone()[0] > 0
        # marks that only a new parse of the line removes
        con.execute(f"update {parsed} set request_id_text = 'MARK' where line_number = 1")
        con.execute("update raw.request_files set sha256 = 'changed' where file_name = '2024.jsonl'")
        con.execute("delete from raw.request_lines where file_name = 'extra.jsonl'")
        con.execute("delete from raw.request_files where file_name = 'extra.jsonl'")
    dbt_by_hand(models, warehouse, tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        marked = con.execute(f"select file_name from {parsed} where request_id_text = 'MARK'").fetchall()
        files = con.execute(f"select distinct file_name from {parsed} order by 1").fetchall()
        con.execute(f"update {parsed} set request_id_text = null where request_id_text = 'MARK'")
        con.execute("update staging.stg_requests__events set request_id = null "
                    "where file_name = '2023.jsonl' and line_number = 1")
        # typed_batch numbers the builds: the only column where a build from nothing differs
        incremental = con.execute("select * exclude (typed_batch) from staging.stg_requests__events "
                                  "order by all").fetchall()
    assert marked == [("2023.jsonl",)]  # kept unread; 2024.jsonl was parsed again
    assert files == [("2023.jsonl",), ("2024.jsonl",)]

    dbt_by_hand([*models, "--full-refresh"], warehouse, tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update staging.stg_requests__events set request_id = null "
                    "where file_name = '2023.jsonl' and line_number = 1")
        assert con.execute("select * exclude (typed_batch) from staging.stg_requests__events "
                           "order by all").fetchall() == incremental


def test_events_are_typed_again_only_for_files_whose_inputs_or_clock_verdicts_changed(e2e, tmp_path):
    """stg_requests__events is incremental by file too (type_key): a file keeps its typed rows
    unless its parsed lines, the seeds or the code changed, or one of its lines was judged by the
    clock (in the future then, or now); kept rows follow their file's position; a table of an
    earlier irr (no type_key) is typed again whole, and the rows are those of a build from nothing."""
    import shutil

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(e2e / "warehouse" / "warehouse.duckdb", warehouse)
    events = "staging.stg_requests__events"
    models = ["run", "--select", "stg_requests__lines_parsed", "stg_requests__events"]

    def marked(con) -> list[tuple]:
        """The files with a row that only a new typing of its file would have changed."""
        return con.execute(f"select distinct file_name from {events} where agency = 'MARK' order by 1").fetchall()

    with duckdb.connect(str(warehouse)) as con:
        built = con.execute(f"select * exclude (type_key, typed_batch) from {events} order by all").fetchall()
        indexes = con.execute(f"select distinct file_name, file_index from {events} order by 1").fetchall()
        con.execute(f"update {events} set agency = 'MARK'")
        # 2023.jsonl: a line judged "in the future" when it was typed; 2024.jsonl: misnumbered
        con.execute(f"update {events} set quarantine_reason = 'received_at in the future' "
                    "where file_name = '2023.jsonl' and line_number = 2")
        con.execute(f"update {events} set file_index = 99 where file_name = '2024.jsonl'")
    dbt_by_hand(models, warehouse, tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        assert marked(con) == [("2024.jsonl",)]
        assert con.execute(f"select distinct file_name, file_index from {events} order by 1").fetchall() == indexes
        # a clock set back: a time of an accepted line of 2024.jsonl is now in the future
        con.execute(f"update {events} set agency = 'MARK'")
        con.execute(f"update {events} set received_at = '2999-01-01' where file_name = '2024.jsonl' and line_number = 1")
    dbt_by_hand(models, warehouse, tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        assert marked(con) == [("2023.jsonl",)]
        # another seed: every file is typed again
        con.execute(f"update {events} set agency = 'MARK'")
        schema = con.execute("select table_schema from information_schema.tables "
                             "where table_name = 'country_aliases'").fetchone()[0]
        con.execute(f"insert into {schema}.country_aliases select 'atlantis', country_code from {schema}.country_aliases limit 1")
    dbt_by_hand(models, warehouse, tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        assert marked(con) == []
        # the table of an earlier irr, without type_key
        con.execute(f"update {events} set agency = 'MARK'")
        con.execute(f"alter table {events} drop column type_key")
    dbt_by_hand(models, warehouse, tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        assert marked(con) == []
        assert con.execute(f"select count(*) from {events} where type_key is null").fetchone()[0] == 0
        assert con.execute(f"select * exclude (type_key, typed_batch) from {events} order by all").fetchall() == built


# the definition of stg_requests__current, written again over the typed events
CURRENT_FROM_EVENTS = """
    select * exclude (rank) from (
        select request_id, country_code, request_type, outcome, legal_process, agency, nondisclosure_order,
               identifiers_json, received_at, updated_at, period, file_name, line_number,
               row_number() over (partition by request_id
                                  order by updated_at desc, file_index desc, line_number desc) as rank
        from staging.stg_requests__events where is_accepted
    ) where rank = 1 order by all
"""


def test_current_requests_are_chosen_again_only_for_requests_whose_events_changed(e2e, tmp_path):
    """stg_requests__current is incremental by request: a file added between two others (which
    moves the later one) chooses again the requests it has events of, and its removal chooses
    them again too; every other request keeps its row, unless another version of the model chose
    it; and the rows are those the definition gives over all the events."""
    import shutil

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(e2e / "warehouse" / "warehouse.duckdb", warehouse)
    current = "staging.stg_requests__current"
    columns = ("request_id, country_code, request_type, outcome, legal_process, agency, nondisclosure_order, "
               "identifiers_json, received_at, updated_at, period, file_name, line_number")
    models = ["run", "--select", "stg_requests__lines_parsed", "stg_requests__events", "stg_requests__current"]
    # U1's latest event again, at the same updated_at but from a file that sorts after 2023.jsonl,
    # and a request of its own
    added = [event("U1", ["@jane.doe"], outcome="rejected", received_at=H2, updated_at="2023-09-01T00:00:00Z"),
             event("N1", ["@new.one"], received_at=H2)]

    def chosen(con) -> dict[str, tuple]:
        return {row[0]: row[1:] for row in con.execute(
            f"select request_id, outcome, file_name, coalesce(agency = 'MARK', false) from {current}").fetchall()}

    with duckdb.connect(str(warehouse)) as con:
        before = chosen(con)
        con.execute("update raw.request_files set file_index = 3 where file_name = '2024.jsonl'")
        con.execute("update raw.request_lines set file_index = 3 where file_name = '2024.jsonl'")
        con.execute("insert into raw.request_files select '2023b.jsonl', 2, 'b', reader_version, 2 "
                    "from raw.request_files where file_name = '2024.jsonl'")
        con.executemany("insert into raw.request_lines values ('2023b.jsonl', 2, ?, ?, true, false, null)",
                        [(n, json.dumps(line)) for n, line in enumerate(added, 1)])
        con.execute(f"update {current} set agency = 'MARK'")
    dbt_by_hand(models, warehouse, tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        after = chosen(con)
        assert after["U1"] == ("rejected", "2023b.jsonl", False)
        assert after["N1"] == ("disclosed", "2023b.jsonl", False)
        assert {r: v for r, v in after.items() if r not in ("U1", "N1")} == {
            r: (outcome, file_name, True) for r, (outcome, file_name, _) in before.items() if r != "U1"}
        con.execute(f"update {current} set agency = null")
        con.execute("update staging.stg_requests__events set agency = null")
        assert con.execute(f"select {columns} from {current} order by all").fetchall() == \
            con.execute(CURRENT_FROM_EVENTS).fetchall()
        # the file changes: typed again in a batch above the one the table has seen, although
        # the batch of its first version was the newest and is forgotten
        con.execute("update raw.request_files set sha256 = 'b2', lines = 1 where file_name = '2023b.jsonl'")
        con.execute("delete from raw.request_lines where file_name = '2023b.jsonl'")
        con.execute("insert into raw.request_lines values ('2023b.jsonl', 2, 1, ?, true, false, null)",
                    [json.dumps(event("N1", ["@new.one"], outcome="rejected", received_at=H2))])
    dbt_by_hand(models, warehouse, tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        after = chosen(con)
        assert (after["U1"][:2], after["N1"][:2]) == (before["U1"][:2], ("rejected", "2023b.jsonl"))
        # the file is gone again, and the rows were chosen by another version of the model: every
        # request is chosen again
        con.execute(f"update {current} set agency = 'MARK', chosen_by = 'an earlier model'")
        con.execute("delete from raw.request_files where file_name = '2023b.jsonl'")
        con.execute("delete from raw.request_lines where file_name = '2023b.jsonl'")
        con.execute("update raw.request_files set file_index = 2 where file_name = '2024.jsonl'")
        con.execute("update raw.request_lines set file_index = 2 where file_name = '2024.jsonl'")
    dbt_by_hand(models, warehouse, tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        assert chosen(con) == before
        con.execute(f"update {current} set agency = null")
        con.execute("update staging.stg_requests__events set agency = null")
        assert con.execute(f"select {columns} from {current} order by all").fetchall() == \
            con.execute(CURRENT_FROM_EVENTS).fetchall()
