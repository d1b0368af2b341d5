"""The contract-cases drop: one request per rule of CONTRACT 1.1-2, expected values written out by hand."""

from __future__ import annotations

from pathlib import Path

from drops import REMOVE, event, write_drop

JANE = "6812345678901234567"       # jane.doe, jane.doe@example.com, +14155550100, owns two videos
BOB = "6800000000000000002"        # bob, shares +442079460958 with CAROL
CAROL = "6800000000000000003"      # carol@example.com, shares +442079460958 with BOB
RENAMED = "6800000000000000004"    # old.name until 2023-03-01, then new.name
HEIR = "6800000000000000005"       # "reused" from 2023-05-01, five@example.com
ORIGINAL = "6800000000000000006"   # "reused" until 2023-02-01, six@example.com

ACCOUNTS = [
    (JANE, "username", "jane.doe", "2020-01-01T00:00:00Z", ""),
    (JANE, "email", "jane.doe@example.com", "", ""),
    (JANE, "phone", "+14155550100", "", ""),
    (BOB, "username", "bob", "", ""),
    (BOB, "phone", "+442079460958", "", ""),
    (CAROL, "phone", "+442079460958", "", ""),
    (CAROL, "email", "carol@example.com", "", ""),
    (RENAMED, "username", "old.name", "", "2023-03-01T00:00:00Z"),
    (RENAMED, "username", "new.name", "2023-03-01T00:00:00Z", ""),
    (ORIGINAL, "username", "reused", "2021-01-01", "2023-02-01"),
    (ORIGINAL, "email", "six@example.com", "", ""),
    (HEIR, "username", "reused", "2023-05-01T00:00:00Z", ""),
    (HEIR, "email", "five@example.com", "", ""),
]
VIDEOS = [
    ("7301234567890123456", JANE),
    ("7300000000000000077", JANE),
]
SHORT_LINKS = [
    ("ZMabc123", "https://www.tiktok.com/@jane.doe"),
    ("ZSxyz", "https://www.tiktok.com/@jane.doe/video/7301234567890123456?lang=en"),
]

# request id -> (country, identifier item, expected kind, expected canonical form or invalid reason)
IDENTIFIER_CASES: dict[str, tuple[str, object, str, str]] = {
    # email
    "I-E1": ("US", "Jane.Doe@Example.com", "email", "jane.doe@example.com"),
    "I-E2": ("US", " <jane@example.com> ", "email", "jane@example.com"),
    "I-E3": ("US", "mailto:jane@example.com", "email", "jane@example.com"),
    "I-E4": ("US", "ＪＡＮＥ@ｅｘａｍｐｌｅ.com", "email", "jane@example.com"),
    # phone
    "I-P1": ("US", "+1 (415) 555-0100", "phone", "+14155550100"),
    "I-P2": ("US", "415.555.0100", "phone", "+14155550100"),
    "I-P3": ("US", "0044 20 7946 0958", "phone", "+442079460958"),
    "I-P4": ("US", "tel:+442079460958", "phone", "+442079460958"),
    "I-P5": ("GB", "020 7946 0958", "phone", "+442079460958"),
    "I-P6": ("US", "12", "invalid", "impossible phone number"),
    "I-P7": ("DE", "030 1234567", "phone", "+49301234567"),
    "I-P8": ("US", "+44 20 7946 0958\u200b", "phone", "+442079460958"),
    # national numbers written with dots are phones, not IP addresses (612, 078 are no IPv4 octets)
    "I-P9": ("ES", "612.34.62.90", "phone", "+34612346290"),              # 3-2-2-2
    "I-P10": ("ES", "912.34.56.78", "phone", "+34912345678"),             # 3-2-2-2
    "I-P11": ("CH", "078.123.83.74", "phone", "+41781238374"),            # 3-3-2-2, leading zero
    "I-P12": ("DE", "030.123.456.78", "phone", "+493012345678"),          # 3-3-3-2
    "I-P13": ("FR", "06.12.34.56.78", "phone", "+33612345678"),           # 2-2-2-2-2
    "I-P14": ("NL", "06.12.34.56.78", "phone", "+31612345678"),           # 2-2-2-2-2, other region
    "I-P15": ("BE", "0470.12.34.56", "phone", "+32470123456"),            # 4-2-2-2
    "I-P16": ("ES", "0044 20 7946 0958", "phone", "+442079460958"),       # 00 = international prefix
    "I-P17": ("US", "256.1.1.1", "invalid", "impossible phone number"),  # 256 is no octet: a phone, too short
    "I-P18": ("FR", "01.02.03.04", "invalid", "impossible phone number"),  # leading zeros: no IP address
    "I-P19": ("US", "tel:abc", "invalid", "unrecognised text"),         # tel: followed by garbage
    "I-P20": ("US", "tel:+44 20 7946 095x", "invalid", "unrecognised text"),
    "I-P21": ("US", "+abc", "invalid", "unrecognised text"),
    "I-P22": ("GB", "TEL: 020 7946 0958", "phone", "+442079460958"),
    "I-P23": ("US", "555-0100", "invalid", "impossible phone number"),  # local only: no E.164 form
    "I-P24": ("ES", "612.34\U000E0041.62.90", "phone", "+34612346290"),  # a tag character is invisible
    # username
    "I-U1": ("US", "@jane.doe", "username", "jane.doe"),
    "I-U2": ("US", "jane_doe", "username", "jane_doe"),
    "I-U3": ("US", "JANE_DOE ", "username", "jane_doe"),
    "I-U4": ("US", "@jane\u200b.doe", "username", "jane.doe"),
    "I-U5": ("US", "a" * 25, "invalid", "username too long"),
    "I-U6": ("US", "ａｌｉｃｅ", "username", "alice"),
    # a username always has a letter; one that starts with digits (or 00) is still a username
    "I-U7": ("US", "00a", "username", "00a"),
    "I-U8": ("US", "@007agent", "username", "007agent"),
    "I-U9": ("GB", "007agent", "username", "007agent"),
    "I-U10": ("US", "@00a", "username", "00a"),
    # profile URL
    "I-R1": ("US", "https://www.tiktok.com/@jane.doe", "username", "jane.doe"),
    "I-R2": ("US", "tiktok.com/@Jane.Doe?lang=en", "username", "jane.doe"),
    "I-R3": ("US", "m.tiktok.com/@jane.doe/", "username", "jane.doe"),
    "I-R4": ("US", "HTTPS://WWW.TIKTOK.COM/@jane.doe#about", "username", "jane.doe"),
    # video URL
    "I-V1": ("US", "https://www.tiktok.com/@jane.doe/video/7301234567890123456?is_from_webapp=1", "video",
             "7301234567890123456"),
    "I-V2": ("US", "https://m.tiktok.com/v/7301234567890123456.html", "video", "7301234567890123456"),
    "I-V3": ("US", {"type": "video", "value": "7301234567890123456"}, "video", "7301234567890123456"),
    # short link (resolved through the directory by its case-sensitive code)
    "I-S1": ("US", "https://vm.tiktok.com/ZMabc123/", "username", "jane.doe"),
    "I-S2": ("US", "vt.tiktok.com/ZSxyz/", "video", "7301234567890123456"),
    "I-S3": ("US", "https://www.tiktok.com/t/ZTabc/", "short_link", "ZTabc"),
    "I-S4": ("US", "https://vm.tiktok.com/zmabc123/", "short_link", "zmabc123"),
    "I-S5": ("US", "HTTPS://VM.TIKTOK.COM/ZMabc123?x=1", "username", "jane.doe"),
    # user id
    "I-I1": ("US", "6812345678901234567", "user_id", "6812345678901234567"),
    "I-I2": ("US", "uid:6812345678901234567", "user_id", "6812345678901234567"),
    "I-I3": ("US", "UID: 6812345678901234567", "user_id", "6812345678901234567"),
    "I-I4": ("US", "user_id 6812345678901234567", "user_id", "6812345678901234567"),
    "I-I5": ("US", "User_Id:6812345678901234567", "user_id", "6812345678901234567"),
    # the hint helps only where content is ambiguous
    "I-H1": ("US", {"type": "email", "value": "@jane.doe"}, "username", "jane.doe"),
    "I-H2": ("US", {"value": "jane.doe@example.com"}, "email", "jane.doe@example.com"),
    # invalid
    "I-X1": ("US", "N/A", "invalid", "unrecognised text"),
    "I-X2": ("US", "see attached", "invalid", "unrecognised text"),
    "I-X3": ("US", "192.168.1.1", "invalid", "IP address"),
    "I-X4": ("US", "John Smith", "invalid", "unrecognised text"),
    "I-X5": ("US", "", "invalid", "empty"),
    "I-X6": ("US", "https://example.com/@jane.doe", "invalid", "not a platform URL"),
    "I-X7": ("US", "https://www.tiktok.com/foo/bar", "invalid", "unrecognised platform URL"),
    "I-X8": ("US", 42, "invalid", "item is not a string or object"),
    "I-X9": ("US", {"type": "email"}, "invalid", "object without a string value"),
    "I-X10": ("US", "\u200b\u200b", "invalid", "empty"),
    "I-X11": ("US", "2001:db8::1", "invalid", "IP address"),
    "I-X12": ("ES", " 8.8.8.8 ", "invalid", "IP address"),
    "I-X13": ("CH", "255.255.255.255", "invalid", "IP address"),
    "I-X14": ("DE", "0.0.0.0", "invalid", "IP address"),
    "I-X15": ("US", "  ::1  ", "invalid", "IP address"),
    "I-X16": ("FR", "fe80::1ff:fe23:4567:890a", "invalid", "IP address"),
    "I-X17": ("US", "::ffff:192.0.2.128", "invalid", "IP address"),
    "I-X18": ("ES", "10.0.0.1", "invalid", "IP address"),
    "I-X19": ("ES", "192.168\uFE0F.1.1", "invalid", "IP address"),  # a variation selector is invisible
    "I-X20": ("US", "fe80::1%see attached", "invalid", "unrecognised text"),  # no zone, no address
}

# request id -> (received_at, country, identifiers, expected accounts specified)
COUNTING_CASES: dict[str, tuple[str, str, list, int]] = {
    # the contract's three examples
    "C-jane-three-ways": ("2023-08-01T00:00:00Z", "US",
                          ["@jane", "jane@example.com", "https://www.tiktok.com/@jane/video/7311111111111111111"], 3),
    "C-jane-one-account": ("2023-08-01T00:00:00Z", "US",
                           ["@jane.doe", "jane.doe@example.com",
                            "https://www.tiktok.com/@jane.doe/video/7301234567890123456"], 1),
    "C-shared-phone-alone": ("2023-08-01T00:00:00Z", "GB", ["+44 20 7946 0958"], 1),
    "C-three-garbage": ("2023-08-01T00:00:00Z", "US", ["N/A", "see attached", "192.168.1.1"], 0),
    # shared phone with one of its accounts' username, and transitively with the other account
    "C-shared-phone-username": ("2023-08-01T00:00:00Z", "GB", ["020 7946 0958", "@bob"], 1),
    "C-shared-phone-chain": ("2023-08-01T00:00:00Z", "GB", ["@bob", "carol@example.com", "+442079460958"], 1),
    "C-two-accounts": ("2023-08-01T00:00:00Z", "GB", ["@bob", "carol@example.com"], 2),
    # renamed username: the old name, after the rename, refers to the account whose row ended last
    "C-renamed": ("2023-06-01T00:00:00Z", "US", ["@old.name", "@new.name"], 1),
    "C-renamed-at-boundary": ("2023-03-01T00:00:00Z", "US", ["@old.name", "@new.name"], 1),
    # reused username: who held it at received_at (or last before)
    "C-reused-gap-original": ("2023-03-15T00:00:00Z", "US", ["@reused", "six@example.com"], 1),
    "C-reused-later-heir": ("2023-06-01T00:00:00Z", "US", ["@reused", "six@example.com"], 2),
    "C-reused-later-heir-same": ("2023-06-01T00:00:00Z", "US", ["@reused", "five@example.com"], 1),
    "C-reused-valid-from-inclusive": ("2023-05-01T00:00:00Z", "US", ["@reused", "five@example.com"], 1),
    "C-reused-just-before": ("2023-04-30T23:59:59Z", "US", ["@reused", "six@example.com"], 1),
    # a known video whose path names a stale username: the owner counts, not the name
    "C-video-stale-path": ("2023-08-01T00:00:00Z", "US",
                           ["https://www.tiktok.com/@old.name/video/7300000000000000077", "jane.doe@example.com"], 1),
    "C-video-stale-path-not-name": ("2023-08-01T00:00:00Z", "US",
                                    ["https://www.tiktok.com/@old.name/video/7300000000000000077", "@new.name"], 2),
    # an unknown video: the username in its path, if any
    "C-unknown-video-path": ("2023-08-01T00:00:00Z", "GB",
                             ["https://www.tiktok.com/@bob/video/7399999999999999999", "@bob"], 1),
    "C-unknown-video-no-path": ("2023-08-01T00:00:00Z", "GB",
                                ["https://m.tiktok.com/v/7399999999999999998.html", "@bob"], 2),
    # short links
    "C-short-link-profile": ("2023-08-01T00:00:00Z", "US", ["https://vm.tiktok.com/ZMabc123/", "@jane.doe"], 1),
    "C-short-link-unknown": ("2023-08-01T00:00:00Z", "US", ["https://vm.tiktok.com/ZZnope/", "@jane.doe"], 2),
    "C-short-link-unknown-twice": ("2023-08-01T00:00:00Z", "US",
                                   ["https://vm.tiktok.com/ZZnope/", "vt.tiktok.com/ZZnope"], 1),
    # user ids
    "C-user-id-known": ("2023-08-01T00:00:00Z", "US", ["uid:6812345678901234567", "@jane.doe"], 1),
    "C-user-id-unknown": ("2023-08-01T00:00:00Z", "US", ["6899999999999999999", "@nobody_here"], 2),
    # equal canonical forms merge even when unresolved
    "C-equal-canonical": ("2023-08-01T00:00:00Z", "US", ["@ghost", "GHOST", "tiktok.com/@Ghost"], 1),
    "C-unresolved-apart": ("2023-08-01T00:00:00Z", "US", ["@ghost1", "ghost2@example.com"], 2),
    "C-national-phone": ("2023-08-01T00:00:00Z", "US", ["(415) 555-0100", "jane.doe@example.com"], 1),
    "C-empty": ("2023-08-01T00:00:00Z", "US", [], 0),
    # dotted national phones count; an IP address beside them does not
    "C-dotted-phone-es": ("2023-08-01T00:00:00Z", "ES", ["612.34.62.90", "+34 612 34 62 90", "10.0.0.1"], 1),
    "C-dotted-phones-ch": ("2023-08-01T00:00:00Z", "CH", ["078.123.83.74", "079.123.45.67", "8.8.4.4"], 2),
}

# request id -> expected (outcome, period) of its current state
EVENT_CASES: dict[str, tuple[str, str]] = {
    "E-latest-in-earlier-file": ("disclosed", "2023-H2"),
    "E-tie-across-files": ("disclosed", "2023-H2"),
    "E-tie-in-file": ("disclosed", "2023-H2"),
    "E-later-event-broken": ("not_disclosed", "2023-H2"),
    "E-offset-ordering": ("rejected", "2023-H2"),
}

# request id -> (received_at as written, expected period)
PERIOD_CASES: dict[str, tuple[str, str]] = {
    "P-last-second-h1": ("2023-06-30T23:59:59Z", "2023-H1"),
    "P-offset-back-into-h1": ("2023-07-01T00:30:00+02:00", "2023-H1"),
    "P-offset-forward-into-h2": ("2023-06-30T20:00:00-05:00", "2023-H2"),
    "P-plain-date": ("2023-07-01", "2023-H2"),
    "P-no-zone-is-utc": ("2023-12-31T23:59:59.999", "2023-H2"),
    "P-offset-back-into-2023": ("2024-01-01T00:00:00+01:00", "2023-H2"),
    "P-new-year-utc": ("2024-01-01T00:00:00Z", "2024-H1"),
    "P-compact-offset": ("2023-06-30T23:00:00-0130", "2023-H2"),
}

# request id -> (country as written, expected code)
COUNTRY_CASES: dict[str, tuple[str, str]] = {
    "K-code-padded-lower": (" us", "US"),
    "K-name": ("United Kingdom", "GB"),
    "K-code": ("GB", "GB"),
    "K-name-upper": ("UNITED STATES", "US"),
    "K-kosovo-code": ("xk", "XK"),
    "K-kosovo-name": ("Kosovo", "XK"),
    "K-iso-name": ("Korea, Republic of", "KR"),
    "K-common-name": ("South Korea ", "KR"),
    "K-germany": ("germany", "DE"),
}

# line content -> expected quarantine reason (each in file q.jsonl, in this order)
QUARANTINE_CASES: list[tuple[object, str]] = [
    ('{"request_id": "Q1", "updated_at": ', "invalid JSON"),
    ("[1, 2, 3]", "not a JSON object"),
    (event("Q3", request_id=REMOVE), "missing request_id"),
    (event("Q4", request_id=4), "request_id is not a string"),
    (event("Q5", updated_at=REMOVE), "missing updated_at"),
    (event("Q6", updated_at="yesterday"), "invalid updated_at"),
    (event("Q7", received_at="2023-02-30"), "invalid received_at"),
    (event("Q8", received_at=None), "missing received_at"),
    (event("Q9", country="Narnia"), "unknown country"),
    (event("Q10", request_type="informal"), "unknown request_type"),
    (event("Q11", outcome="maybe"), "unknown outcome"),
    (event("Q12", identifiers="@jane"), "identifiers is not an array"),
    (event("Q13", identifiers=REMOVE), "missing identifiers"),
    ("", "blank line"),
    (b'{"request_id": "Q15", "bad": "\xff\xfe"}', "invalid UTF-8"),
    (event("Q16", country=None), "missing country"),
    (event("Q17", received_at="01/07/2023"), "invalid received_at"),
]


def build_contract_drop(root: Path) -> Path:
    files: dict[str, list] = {"a.jsonl": [], "b.jsonl.gz": [], "q.jsonl": []}
    a = files["a.jsonl"]
    for rid, (country, item, _, _) in IDENTIFIER_CASES.items():
        a.append(event(rid, [item], country=country))
    for rid, (received, country, identifiers, _) in COUNTING_CASES.items():
        a.append(event(rid, identifiers, country=country, received_at=received, updated_at="2024-01-10T00:00:00Z"))
    for rid, (received, _) in PERIOD_CASES.items():
        a.append(event(rid, ["@someone"], received_at=received, updated_at="2024-02-01T00:00:00Z"))
    for rid, (country, _) in COUNTRY_CASES.items():
        a.append(event(rid, ["@someone"], country=country))
    b = files["b.jsonl.gz"]
    # the greatest updated_at wins even when its file comes first
    a.append(event("E-latest-in-earlier-file", outcome="disclosed", updated_at="2023-09-10T00:00:00Z"))
    b.append(event("E-latest-in-earlier-file", outcome="rejected", updated_at="2023-09-05T00:00:00Z"))
    # a tie (same instant, other spelling): the later file wins
    a.append(event("E-tie-across-files", outcome="rejected", updated_at="2023-09-10T00:00:00Z"))
    b.append(event("E-tie-across-files", outcome="disclosed", updated_at="2023-09-10T02:00:00+02:00"))
    # a tie in one file: the later line wins
    b.append(event("E-tie-in-file", outcome="pending", updated_at="2023-09-10T00:00:00Z"))
    b.append(event("E-tie-in-file", outcome="rejected", updated_at="2023-09-10T00:00:00"))
    b.append(event("E-tie-in-file", outcome="disclosed", updated_at="2023-09-10T00:00:00Z"))
    # a later event that is broken is quarantined; the earlier good one stands
    a.append(event("E-later-event-broken", outcome="not_disclosed", updated_at="2023-09-01T00:00:00Z"))
    b.append(event("E-later-event-broken", outcome="disclosed", country="Atlantis", updated_at="2023-09-20T00:00:00Z"))
    # offsets compare as instants: 10:00+05:00 (05:00Z) is earlier than 06:00Z
    a.append(event("E-offset-ordering", outcome="rejected", updated_at="2023-09-10T06:00:00Z"))
    b.append(event("E-offset-ordering", outcome="disclosed", updated_at="2023-09-10T10:00:00+05:00"))
    files["q.jsonl"] = [line for line, _ in QUARANTINE_CASES]
    return write_drop(root, files, ACCOUNTS, VIDEOS, SHORT_LINKS)
