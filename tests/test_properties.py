"""Property-based tests of identifier canonicalisation (the dbt model's own SQL, run on generated text):
idempotent, and insensitive to case, spacing, full-width forms and zero-width characters where
CONTRACT 1.2 says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagster_project.dbt_plugin import register_functions
from dagster_project.dbt_project import DBT_PROJECT_DIR, SEEDS_DIR

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e", "\u202e"]


def compiled_models(root: Path, *models: str) -> tuple[list[str], duckdb.DuckDBPyConnection]:
    """Models' SQL ("folder/name") as dbt compiles it, and a connection to an empty database under
    `root` that it can run against (the compiled SQL names the catalog "warehouse")."""
    db = root / "warehouse.duckdb"
    env = {**os.environ, "IRR_WAREHOUSE_DB": str(db)}
    dbt = Path(sys.executable).with_name("dbt")
    result = subprocess.run(
        [str(dbt), "compile", "--select", *(m.split("/")[-1] for m in models), "--project-dir",
         str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(root / "target")],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    compiled = root / "target" / "compiled" / "irr" / "models"
    return [(compiled / f"{m}.sql").read_text() for m in models], duckdb.connect(str(db))


def compiled_model(root: Path, folder: str, model: str) -> tuple[str, duckdb.DuckDBPyConnection]:
    (sql,), con = compiled_models(root, f"{folder}/{model}")
    return sql, con


class Classifier:
    """Runs the compiled int_identifiers_classified model over a batch of texts."""

    def __init__(self, root: Path) -> None:
        self.sql, self.con = compiled_model(root, "intermediate", "int_identifiers_classified")
        register_functions(self.con)
        self.con.execute("set TimeZone = 'UTC'")
        self.con.execute("create schema if not exists staging")
        self.con.execute(
            "create or replace table staging.stg_requests__identifiers (request_id varchar, item_index integer, "
            "raw_value varchar, hinted_kind varchar, item_error varchar, country_code varchar, received_at timestamp)"
        )
        self.con.execute("create or replace table staging.stg_directory__short_links (code varchar, target_url varchar)")
        self.con.execute("create schema if not exists reference")
        self.con.execute(
            "create or replace table reference.identifier_forms as select * from read_csv(?, "
            "columns = {'form': 'varchar', 'kind': 'varchar', 'is_valid': 'boolean'}, header = true)",
            [str(SEEDS_DIR / "identifier_forms.csv")],
        )

    def __call__(self, texts: list[str], region: str = "US", sql: str | None = None,
                 columns: str = "kind, canonical_value") -> list[tuple]:
        self.con.execute("delete from staging.stg_requests__identifiers")
        self.con.execute(
            "insert into staging.stg_requests__identifiers "
            "select 'r', i, t, null, null, ?, null from (select unnest(?::varchar[]) as t, "
            "generate_subscripts(?::varchar[], 1) as i)",
            [region, texts, texts],
        )
        rows = dict(
            ((raw, tuple(rest)) for raw, *rest in self.con.execute(
                f"select raw_value, {columns} from ({sql or self.sql}) where not is_short_link_target"
            ).fetchall())
        )
        return [rows[t] for t in texts]


@pytest.fixture(scope="module")
def classify(tmp_path_factory) -> Classifier:
    return Classifier(tmp_path_factory.mktemp("properties"))


def sprinkle(text: str, data, invisible: bool = True) -> str:
    """Insert zero-width and bidi characters at random places."""
    if not invisible or not text:
        return text
    chars = list(text)
    for _ in range(data.draw(st.integers(1, 3))):
        chars.insert(data.draw(st.integers(0, len(chars))), data.draw(st.sampled_from(ZERO_WIDTH)))
    return "".join(chars)


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# Any name with a letter, and explicitly names that start with digits or 00 (`00a`, `007agent`),
# which a phone reading must not swallow.
usernames = st.one_of(
    st.from_regex(r"[a-z0-9_.]{0,10}[a-z][a-z0-9_.]{0,10}", fullmatch=True),
    st.from_regex(r"(00|[0-9]{1,6})[a-z][a-z0-9_.]{0,10}", fullmatch=True),
)
emails = st.builds(lambda local, domain: f"{local}@{domain}",
                   st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,8})?", fullmatch=True),
                   st.from_regex(r"[a-z]{2,10}\.(com|org|net|example)", fullmatch=True))
user_ids = st.integers(10**15, 10**20 - 1).map(str)


@SETTINGS
@given(name=usernames, data=st.data())
def test_username_forms_share_one_canonical(classify, name, data):
    forms = [name, f"@{name}", name.upper(), f"  @{name.title()}  ", sprinkle(f"@{name}", data), full_width(f"@{name}"),
             f"https://www.tiktok.com/@{name}", f"TIKTOK.COM/@{name.upper()}/?lang=en#top",
             sprinkle(f"m.tiktok.com/@{name}/", data)]
    assert classify(forms) == [("username", name)] * len(forms)


@SETTINGS
@given(email=emails, data=st.data())
def test_email_forms_share_one_canonical(classify, email, data):
    forms = [email, email.upper(), f" <{email}> ", f"mailto:{email}", sprinkle(email, data), full_width(email)]
    assert classify(forms) == [("email", email)] * len(forms)


@SETTINGS
@given(uid=user_ids, data=st.data())
def test_user_id_forms_share_one_canonical(classify, uid, data):
    forms = [uid, f"uid:{uid}", f"UID: {uid}", f"user_id {uid}", f"User_Id:{uid}", sprinkle(uid, data), full_width(uid)]
    assert classify(forms) == [("user_id", uid)] * len(forms)


REGIONS = ["US", "GB", "DE", "FR", "BR", "IN", "JP", "MX"]


@SETTINGS
@given(region=st.sampled_from(REGIONS), suffix=st.integers(0, 9999), data=st.data())
def test_phone_forms_share_one_canonical(classify, region, suffix, data):
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    digits = str(example.national_number)
    number = phonenumbers.parse(f"+{example.country_code}{digits[:-4]}{suffix:04d}")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    forms = [e164, international, "00" + e164[1:], f"tel:{e164}", national, sprinkle(international, data)]
    if phonenumbers.is_possible_number_with_reason(number) == phonenumbers.ValidationResult.IS_POSSIBLE:
        assert classify(forms, region) == [("phone", e164)] * len(forms)
    else:
        assert {kind for kind, _ in classify(forms, region)} == {"invalid"}


@SETTINGS
@given(text=st.text(max_size=40))
def test_canonical_form_is_a_fixed_point(classify, text):
    [(kind, canonical)] = classify([text])
    if kind in ("username", "email", "user_id", "phone"):
        assert classify([canonical]) == [(kind, canonical)]
    if kind == "invalid":
        assert canonical is None


@SETTINGS
@given(text=st.text(max_size=40), data=st.data())
def test_spacing_and_invisible_characters_never_change_the_reading(classify, text, data):
    first, second, third = classify([text, f"  {text}\t", sprinkle(text, data)])
    assert first == second == third


# The model calls the Python helpers only for texts they can change (macros/identifiers.sql):
# the same model with those shortcuts turned off calls them for every text (the normal-form
# pattern then matches nothing, the address pattern everything). Texts near the shortcuts'
# edges: every kind of space, invisible and full-width characters, hex digits, colons, dots and
# zones (IP addresses), besides any text at all.
EDGES = [*" \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2028\u3000", *"0123456789abcdefABCDEF:.%@+-()_/", *ZERO_WIDTH,
         "\u00ad", "\ufe0f", "\uff41", "\uff11", "\u00e9", "\u0301", "\x7f", "~", "!"]
near_edges = st.one_of(
    st.text(alphabet=st.one_of(st.sampled_from(EDGES), st.characters()), max_size=30),
    st.lists(st.one_of(st.from_regex(r"[a-z0-9@.:]{1,6}", fullmatch=True), st.sampled_from(EDGES)),
             max_size=5).map("".join),
    st.ip_addresses().map(str),
    st.builds(lambda ip, zone: f"{ip}%{zone}", st.ip_addresses(v=6).map(str), st.text(max_size=6)),
)
SHORTCUTS = {r"'[\x21-\x7e]+( [\x21-\x7e]+)*'": "'$^.'", r"'[0-9A-Fa-f:.]+(%.*)?'": "'(?s).*'"}


@SETTINGS
@given(texts=st.lists(near_edges, min_size=1, max_size=12, unique=True), region=st.sampled_from(REGIONS))
def test_helpers_are_skipped_only_where_they_cannot_change_the_reading(classify, texts, region):
    reference = classify.sql
    for shortcut, nothing in SHORTCUTS.items():
        assert shortcut in reference, f"the model no longer holds the shortcut {shortcut}: update this test"
        reference = reference.replace(shortcut, nothing)
    # every column: what the text was read as, and why it was refused
    assert classify(texts, region, columns="*") == classify(texts, region, sql=reference, columns="*")


# --- JSON lines: what only DuckDB's lenient reader takes is not JSON -----------------------------

JSON_TOKENS = ["{", "}", "[", "]", ":", ",", " ", "\t", '"a"', '"b"', '"x, nan]"', '",}"', '"\\", nan"', "1",
               "-1.5", "0", "NaN", "nan", "-NaN", "-inf", "+inf", "INF", "Infinity", "-Infinity", "infinity",
               "true", "null"]


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


def rfc_8259(text: str) -> bool:
    """The oracle: Python's reader, told that NaN and Infinity are not JSON (numbers kept as
    text: no digit limit)."""
    try:
        json.loads(text, parse_constant=_not_json, parse_int=str, parse_float=str)
    except ValueError:
        return False
    return True


class LinesParsed:
    """Runs the compiled stg_requests__lines_parsed model over lines: whether each is JSON."""

    def __init__(self, root: Path) -> None:
        self.sql, self.con = compiled_model(root, "staging", "stg_requests__lines_parsed")
        self.con.execute("create schema raw")
        self.con.execute("create table raw.request_files (file_name varchar, file_index integer, sha256 varchar, "
                         "reader_version integer, lines bigint)")
        self.con.execute("insert into raw.request_files values ('f.jsonl', 1, 'x', 1, 0)")
        self.con.execute("create table raw.request_lines (file_name varchar, file_index integer, line_number bigint, "
                         "line_text varchar, is_valid_utf8 boolean, has_nul_byte boolean, not_read_reason varchar)")

    def __call__(self, texts: list[str]) -> list[bool]:
        self.con.execute("delete from raw.request_lines")
        self.con.execute("insert into raw.request_lines select 'f.jsonl', 1, i, t, true, false, null "
                         "from (select unnest(?::varchar[]) as t, generate_subscripts(?::varchar[], 1) as i)",
                         [texts, texts])
        got = dict(self.con.execute(f"select line_number, is_json from ({self.sql})").fetchall())
        return [got[i] for i in range(1, len(texts) + 1)]


@pytest.fixture(scope="module")
def lines_parsed(tmp_path_factory) -> LinesParsed:
    return LinesParsed(tmp_path_factory.mktemp("lines_parsed"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.sampled_from(JSON_TOKENS), max_size=14), min_size=1, max_size=20))
def test_a_line_is_json_only_as_rfc_8259_has_it(lines_parsed, soups):
    """The model says what a strict reader says, for token soups: NaN, Infinity and trailing
    commas are not JSON, the same words in strings are."""
    texts = ["".join(tokens) for tokens in soups]
    assert lines_parsed(texts) == [rfc_8259(t) for t in texts], texts


def test_lenient_json_is_not_json_and_valid_json_stays_json(lines_parsed):
    valid = ['{"a": 1}', '{"a": "x, nan, }"}', '{"a": [1, 2 ]}', '{"a": "\\\\", "b": ",]"}',
             # beyond a Python reader's defaults: 5,000 digits, 1,000 levels (with a decoy string)
             '{"n": ' + "9" * 5000 + ', "agency": "Unit: Infosec"}',
             '{"agency": ":nan,]", "x": ' + "[" * 1000 + "]" * 1000 + "}"]
    lenient = ['{"a": NaN}', '{"a": -Infinity}', '{"a": inf}', '{"a": 1,}', '[1, 2,]', '{"a": {"b": 1 , } }',
               'NaN', '{"a": "x", "b": nan}']
    assert lines_parsed(valid + lenient) == [True] * len(valid) + [False] * len(lenient)


def test_a_blank_line_is_one_that_trim_empties(lines_parsed):
    """The model finds blank lines without trimming each: the same lines as `trim(line) = ''`,
    for the empty line and for every code point alone, repeated, and beside a space or a letter."""
    con = lines_parsed.con
    con.execute("delete from raw.request_lines")
    con.execute("""
        insert into raw.request_lines
        select 'f.jsonl', 1, row_number() over (), t, true, false, null
        from range(1, 1114112) as cps(cp)
        cross join (values (''), (' '), ('a')) as beside(b)
        cross join lateral (select chr(cp::integer) as c)
        cross join lateral (values (c), (c || c || c), (b || c), (c || b)) as lines(t)
        where cp not between 55296 and 57343
        union all
        select 'f.jsonl', 1, n, t, true, false, null from (values (0, ''), (-1, chr(0))) as edge(n, t)""")
    lines, differ, blank = con.execute(f"""
        select count(*), count(*) filter (where parsed.is_blank is distinct from (trim(lines.line_text) = '')),
               count(*) filter (where parsed.is_blank)
        from ({lines_parsed.sql}) as parsed join raw.request_lines as lines using (line_number)""").fetchone()
    assert (lines, differ) == (12 * (1114111 - 2048) + 2, 0)
    assert blank > 17  # the spaces trim takes off (Unicode's Zs), alone, repeated and side by side


# --- the directory's profile reads the raw rows: it counts what the staging view would ------------

DIRECTORY_TEXTS = st.one_of(
    st.none(), st.sampled_from(["", " ", "\t", "Email", " phone ", "USERNAME", "fax", "e-mail", "jane.doe",
                                " Jane@X.com ", "6812345678901234567", "2024-01-01T00:00:00Z",
                                " 2024-06-01 12:00:00+02:00 ", "2023-12-31", "soon", "2024-13-01", "0"]))


@pytest.fixture(scope="module")
def directory_models(tmp_path_factory):
    (profile, view), con = compiled_models(tmp_path_factory.mktemp("directory"),
                                           "intermediate/int_directory_profile",
                                           "staging/stg_directory__account_identifiers")
    con.execute("set TimeZone = 'UTC'")
    con.execute("create schema raw")
    con.execute("create table raw.account_identifiers (account_id varchar, identifier_type varchar, "
                "identifier_value varchar, valid_from varchar, valid_to varchar)")
    return profile, view, con


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(*[DIRECTORY_TEXTS] * 5), min_size=1, max_size=30))
def test_the_directory_profile_counts_what_the_staging_view_reads(directory_models, rows):
    """int_directory_profile reads the raw rows itself (a scan of 10^8 rows through the view cost
    17 s more): its counts are those of the view's rows, whatever the texts."""
    profile, view, con = directory_models
    con.execute("delete from raw.account_identifiers")
    con.executemany("insert into raw.account_identifiers values (?, ?, ?, ?, ?)", rows)
    got = con.execute(f"select * from ({profile})").fetchone()
    expected = con.execute(f"""
        select count(*),
            count(*) filter (where account_id is null),
            count(*) filter (where identifier_type is null or identifier_type not in ('email', 'phone', 'username')),
            count(*) filter (where identifier_value is null),
            count(*) filter (where (valid_from_text is not null and valid_from is null)
                or (valid_to_text is not null and valid_to is null)),
            count(*) filter (where not is_interval_ordered),
            count(*) filter (where identifier_value <> identifier_value_as_written)
        from ({view})""").fetchone()
    columns = [d[0] for d in con.execute(f"select * from ({profile}) limit 0").description]
    assert columns == ["directory_rows", "rows_without_account_id", "rows_with_unknown_type", "rows_without_value",
                       "rows_with_unreadable_time", "rows_with_reversed_interval",
                       "rows_with_value_maybe_not_canonical", "dbt_invocation_id"]
    assert got[:6] == expected[:6], rows
    # a superset: every value the view changes is counted (and then the match makes them canonical)
    assert got[6] >= expected[6] and (got[6] == 0) <= (expected[6] == 0), rows


def test_the_profile_counts_every_value_the_staging_view_would_change(directory_models):
    """int_directory_named compares the directory's values as written when the profile counts no
    value that may not be canonical: each value the view changes (trimmed of Unicode's spaces,
    lower-cased) must be counted, whatever character it holds, at either end or inside. Every code
    point alone, after, before and between ASCII letters, as an email's value and a phone's; then
    only those the view changes are kept, and the profile must count each."""
    profile, view, con = directory_models
    con.execute("delete from raw.account_identifiers")
    con.execute("""
        insert into raw.account_identifiers
        select '1', identifier_type, value, null, null
        from (select chr(cp::integer) as c from range(1, 1114112) as points(cp)
              where cp not between 55296 and 57343) as points,
            (values ('email'), ('phone')) as types(identifier_type),
            lateral (values (c), ('a' || c), (c || 'a'), ('a' || c || 'a')) as forms(value)""")
    con.execute(f"""
        create or replace temp table changed as
        select account_id, identifier_type, identifier_value_as_written as identifier_value, null as valid_from,
            null as valid_to
        from ({view}) where identifier_value <> identifier_value_as_written""")
    con.execute("delete from raw.account_identifiers")
    con.execute("insert into raw.account_identifiers select * from changed")
    rows, maybe = con.execute(f"select directory_rows, rows_with_value_maybe_not_canonical from ({profile})").fetchone()
    assert rows > 2 * 4 * (26 + 17) and maybe == rows  # at least the capitals and the spaces, each counted
    # and canonical values, as the contract's directory holds them, are not counted: the fast match is the usual one
    con.execute("delete from raw.account_identifiers")
    con.executemany("insert into raw.account_identifiers values ('1', ?, ?, null, null)",
                    [("email", "jane.doe@example.com"), ("phone", "+14155550100"), ("username", "jane_doe.1"),
                     ("username", "reused")])
    assert con.execute(f"select rows_with_value_maybe_not_canonical from ({profile})").fetchone() == (0,)
