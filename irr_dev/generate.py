"""A deterministic, seedable generator of realistic raw drops (request events and identity directory)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import phonenumbers

# (code, weight, spellings an agency might use besides the code)
COUNTRIES: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("US", 30, ("United States", "USA", "united states of america")),
    ("GB", 8, ("United Kingdom", "UK")),
    ("DE", 8, ("Germany",)),
    ("FR", 6, ("France",)),
    ("BR", 6, ("Brazil",)),
    ("IN", 5, ("India",)),
    ("ES", 4, ("Spain",)),
    ("IT", 4, ("Italy",)),
    ("MX", 3, ("Mexico",)),
    ("CA", 3, ("Canada",)),
    ("AU", 3, ("Australia",)),
    ("JP", 3, ("Japan",)),
    ("KR", 2, ("South Korea", "Korea, Republic of")),
    ("TR", 2, ("Turkey", "Türkiye")),
    ("PL", 2, ("Poland",)),
    ("NL", 2, ("Netherlands",)),
    ("BE", 1, ("Belgium",)),
    ("SE", 1, ("Sweden",)),
    ("AR", 1, ("Argentina",)),
    ("PH", 1, ("Philippines",)),
    ("ID", 1, ("Indonesia",)),
    ("PK", 1, ("Pakistan",)),
    ("IL", 1, ("Israel",)),
    ("SG", 1, ("Singapore",)),
    ("ZA", 1, ("South Africa",)),
    ("NG", 1, ("Nigeria",)),
    ("CZ", 1, ("Czechia", "Czech Republic")),
    ("XK", 1, ("Kosovo",)),
    ("VN", 1, ("Viet Nam", "Vietnam")),
    ("RU", 1, ("Russia", "Russian Federation")),
)
REQUEST_TYPES = (("legal", 60), ("emergency", 28), ("preservation", 12))
OUTCOMES = {
    "legal": (("disclosed", 55), ("not_disclosed", 20), ("rejected", 15), ("withdrawn", 5), ("pending", 5)),
    "emergency": (("disclosed", 70), ("not_disclosed", 20), ("rejected", 8), ("pending", 2)),
    "preservation": (("preserved", 85), ("rejected", 10), ("withdrawn", 5)),
}
LEGAL_PROCESS = {
    "legal": ("subpoena", "court order", "search warrant", "MLAT", "production order"),
    "emergency": ("emergency disclosure request",),
    "preservation": ("preservation letter", "preservation request"),
}
INVALID_TEXTS = ("N/A", "see attached", "unknown account", "", "John Smith", "203.0.113.7", "?", "n/a - pending")
DOMAINS = ("example.com", "mail.example", "example.org", "inbox.example.net")
FIRST = ("jane", "john", "ali", "maria", "li", "sam", "noah", "emma", "lucas", "mia", "omar", "zoe", "ivan", "ana")
LAST = ("doe", "smith", "garcia", "chen", "kim", "muller", "rossi", "silva", "khan", "nowak", "dubois", "ito")


@dataclass
class Account:
    account_id: str
    country: str
    usernames: list[tuple[str, datetime | None, datetime | None]]
    email: str
    phone: str
    videos: list[str] = field(default_factory=list)


def _pick(rng: random.Random, weighted) -> str:
    items, weights = zip(*[(i[0], i[1]) for i in weighted])
    return rng.choices(items, weights)[0]


def _phone_for(rng: random.Random, region: str) -> str:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    national = str(example.national_number)
    for _ in range(20):
        digits = national[:-4] + "".join(rng.choice(string.digits) for _ in range(4))
        number = phonenumbers.parse("+" + str(example.country_code) + digits)
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


def _ts(rng: random.Random, moment: datetime) -> str:
    """An ISO 8601 spelling of `moment`: Z, an offset, or no zone (UTC)."""
    style = rng.random()
    if style < 0.5:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if style < 0.8:
        hours = rng.choice((-8, -5, -3, 1, 2, 3, 5, 8, 9))
        local = moment.astimezone(timezone(timedelta(hours=hours)))
        return local.isoformat(timespec="seconds")
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


class DropGenerator:
    """Builds accounts, the directory and request events from one seed."""

    def __init__(self, seed: int, requests: int, start: datetime, halves: int) -> None:
        self.rng = random.Random(seed)
        self.n_requests = requests
        self.start = start
        self.end = _add_months(start, 6 * halves)
        self.accounts: list[Account] = []
        self.shared_phones: list[tuple[str, str]] = []
        self.short_links: dict[str, str] = {}
        self.retired_usernames: list[str] = []

    # directory ---------------------------------------------------------------------------
    def build_directory(self) -> None:
        rng = self.rng
        n_accounts = max(60, self.n_requests // 2)
        taken: set[str] = set()
        for i in range(n_accounts):
            country = _pick(rng, COUNTRIES)
            base = f"{rng.choice(FIRST)}{rng.choice(('.', '_', ''))}{rng.choice(LAST)}"
            name = base
            while name in taken:
                name = f"{base}{rng.randint(1, 9999)}"
            taken.add(name)
            account_id = str(6800000000000000000 + i * 7919 + rng.randint(0, 7000))
            usernames: list[tuple[str, datetime | None, datetime | None]] = [(name, None, None)]
            if rng.random() < 0.1:  # renamed during the covered time
                renamed_at = self._moment()
                new = f"{name}_{rng.randint(10, 99)}"
                taken.add(new)
                usernames = [(name, None, renamed_at), (new, renamed_at, None)]
                self.retired_usernames.append(name)
            email = f"{name.replace('_', '.')}@{rng.choice(DOMAINS)}"
            phone = _phone_for(rng, country)
            account = Account(account_id, country, usernames, email, phone)
            account.videos = [str(7200000000000000000 + i * 104729 + k) for k in range(rng.randint(0, 3))]
            self.accounts.append(account)
        # reused usernames: a retired name claimed later by another account
        for name in self.retired_usernames[: len(self.retired_usernames) // 2]:
            owner = next(a for a in self.accounts if a.usernames[0][0] == name)
            heir = rng.choice(self.accounts)
            if heir is owner or len(heir.usernames) > 1:
                continue
            claimed_at = owner.usernames[0][2] + timedelta(days=rng.randint(1, 60))
            heir.usernames.append((name, claimed_at, None))
            first, _, _ = heir.usernames[0]
            heir.usernames[0] = (first, None, claimed_at)
        # shared phones: a household or a business line on two accounts
        for _ in range(max(2, n_accounts // 30)):
            a, b = rng.sample(self.accounts, 2)
            b.phone = a.phone
            self.shared_phones.append((a.account_id, b.account_id))
        # short links to profiles and videos
        for account in rng.sample(self.accounts, max(5, n_accounts // 20)):
            code = "Z" + rng.choice("MST") + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(6))
            if account.videos and rng.random() < 0.5:
                target = f"https://www.tiktok.com/@{account.usernames[-1][0]}/video/{account.videos[0]}"
            else:
                target = f"https://www.tiktok.com/@{account.usernames[-1][0]}"
            self.short_links[code] = target

    def directory_rows(self) -> list[tuple[str, str, str, str, str]]:
        rows = []
        for a in self.accounts:
            for name, since, until in a.usernames:
                rows.append((a.account_id, "username", name, _iso(since), _iso(until)))
            rows.append((a.account_id, "email", a.email, "", ""))
            rows.append((a.account_id, "phone", a.phone, "", ""))
        return rows

    # requests ----------------------------------------------------------------------------
    def _moment(self) -> datetime:
        span = (self.end - self.start).total_seconds()
        return self.start + timedelta(seconds=self.rng.uniform(0, span - 1))

    def _received(self) -> datetime:
        if self.rng.random() < 0.03:  # close to a half-year edge
            edges = [e for e in _edges(self.start, self.end)]
            edge = self.rng.choice(edges)
            return edge + timedelta(minutes=self.rng.randint(-300, 300))
        return self._moment()

    def _identifier(self, account: Account, region: str, received: datetime):
        rng = self.rng
        name = next((n for n, s, u in account.usernames if (s is None or s <= received) and (u is None or received < u)),
                    account.usernames[-1][0])
        form = rng.choices(
            ("username", "profile", "email", "phone", "user_id", "video", "short", "object"),
            (25, 15, 15, 15, 8, 10, 5, 7),
        )[0]
        if form == "username":
            return rng.choice((f"@{name}", name, name.upper() + " ", f" @{name.title()}", f"@{name}\u200b"))
        if form == "profile":
            host = rng.choice(("https://www.tiktok.com", "tiktok.com", "m.tiktok.com", "https://TikTok.com"))
            return f"{host}/@{rng.choice((name, name.title()))}{rng.choice(('', '/', '?lang=en', '?is_from_webapp=1#top'))}"
        if form == "email":
            email = account.email
            return rng.choice((email, email.title(), f" <{email}> ", f"mailto:{email}", email.upper()))
        if form == "phone":
            number = phonenumbers.parse(account.phone)
            styles = [
                phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
                account.phone,
                "00" + account.phone[1:],
                "tel:" + account.phone,
            ]
            if phonenumbers.region_code_for_number(number) == region:
                styles.append(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
            return rng.choice(styles)
        if form == "user_id":
            return rng.choice((account.account_id, f"uid:{account.account_id}", f"UID: {account.account_id}",
                               f"user_id {account.account_id}"))
        if form == "video" and account.videos:
            video = rng.choice(account.videos)
            if rng.random() < 0.5:
                return f"https://www.tiktok.com/@{name}/video/{video}?is_from_webapp=1"
            return f"https://m.tiktok.com/v/{video}.html"
        if form == "short":
            mine = [c for c, t in self.short_links.items() if f"/@{name}" in t]
            if mine:
                code = mine[0]
                return rng.choice((f"https://vm.tiktok.com/{code}/", f"vt.tiktok.com/{code}",
                                   f"https://www.tiktok.com/t/{code}/"))
        if form == "object":
            hint = rng.choice(("username", "email", "phone", None, "email"))  # sometimes wrong
            value = rng.choice((f"@{name}", account.email))
            return {"type": hint, "value": value} if hint else {"value": value}
        return f"@{name}"

    def _unknown_identifier(self, region: str):
        rng = self.rng
        return rng.choice((
            f"@ghost_{rng.randint(1000, 99999)}",
            f"https://vm.tiktok.com/ZZ{rng.randint(10000, 99999)}/",
            f"{rng.choice(FIRST)}.{rng.randint(100, 999)}@example.com",
            f"https://www.tiktok.com/@nobody{rng.randint(1, 99)}/video/{7399000000000000000 + rng.randint(0, 10**6)}",
            str(6899000000000000000 + rng.randint(0, 10**9)),
        ))

    def events(self) -> list[dict]:
        rng = self.rng
        out: list[dict] = []
        for seq in range(1, self.n_requests + 1):
            country = _pick(rng, COUNTRIES)
            spelled = rng.choice((country, country.lower(), f" {country.lower()}", *next(c[2] for c in COUNTRIES if c[0] == country)))
            request_type = _pick(rng, REQUEST_TYPES)
            final_outcome = _pick(rng, OUTCOMES[request_type])
            received = self._received()
            identifiers: list = []
            for account in rng.sample(self.accounts, rng.choices((1, 2, 3), (75, 20, 5))[0]):
                for _ in range(rng.choices((1, 2, 3), (50, 35, 15))[0]):
                    identifiers.append(self._identifier(account, country, received))
            if rng.random() < 0.10:
                identifiers.append(self._unknown_identifier(country))
            if rng.random() < 0.08:
                identifiers.append(rng.choice(INVALID_TEXTS))
            if rng.random() < 0.02:
                identifiers = [rng.choice(INVALID_TEXTS)]
            if rng.random() < 0.02:
                a, b = self.shared_phones[rng.randrange(len(self.shared_phones))]
                shared = next(x for x in self.accounts if x.account_id == a).phone
                identifiers = [shared]
            base = {
                "request_id": f"LR-{received.year}-{seq:07d}",
                "received_at": rng.choice((_ts(rng, received), received.strftime("%Y-%m-%d"))),
                "country": spelled,
                "request_type": rng.choice((request_type, request_type.upper(), f" {request_type.title()} ")),
                "legal_process": rng.choice(LEGAL_PROCESS[request_type]),
                "agency": f"{rng.choice(('Metropolitan', 'State', 'Federal', 'Regional'))} Police {country}",
                "identifiers": identifiers,
            }
            updated = received + timedelta(hours=rng.randint(1, 72))
            if rng.random() < 0.3:  # exported first while pending
                out.append({**base, "updated_at": _ts(rng, updated), "outcome": "pending", "_at": updated})
                updated += timedelta(days=rng.randint(1, 30))
                if rng.random() < 0.1:  # re-exported with the same timestamp: the later line wins
                    out.append({**base, "updated_at": _ts(rng, updated), "outcome": "pending", "_at": updated})
            out.append({**base, "updated_at": _ts(rng, updated), "outcome": rng.choice((final_outcome, final_outcome.upper())),
                        "_at": updated})
        out.sort(key=lambda e: e["_at"])
        return out


def _iso(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def _add_months(moment: datetime, months: int) -> datetime:
    total = moment.month - 1 + months
    return moment.replace(year=moment.year + total // 12, month=total % 12 + 1)


def _edges(start: datetime, end: datetime) -> list[datetime]:
    edges, moment = [], _add_months(start, 6)
    while moment < end:
        edges.append(moment)
        moment = _add_months(moment, 6)
    return edges or [start]


def _broken_line(rng: random.Random, line: str) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return line[: len(line) // 2]
    event = json.loads(line)
    if kind == 1:
        event.pop("received_at")
    elif kind == 2:
        event["country"] = "Atlantis"
    elif kind == 3:
        event["received_at"] = "2023-02-30"
    elif kind == 4:
        event["request_type"] = "informal"
    else:
        event["identifiers"] = "@someone"
    return json.dumps(event, ensure_ascii=False)


def write_drop(out: Path, requests: int, seed: int, start: str = "2023-01-01", halves: int = 4) -> dict[str, int]:
    """Write a drop to `out`; same arguments, same bytes. Returns a few counts."""
    begin = datetime.fromisoformat(start).replace(tzinfo=timezone.utc)
    gen = DropGenerator(seed, requests, begin, halves)
    gen.build_directory()
    events = gen.events()
    rng = gen.rng

    (out / "requests").mkdir(parents=True, exist_ok=True)
    (out / "directory").mkdir(parents=True, exist_ok=True)
    for folder in ("requests", "directory"):
        for old in (out / folder).iterdir():
            old.unlink()
    # one export file per quarter of updated_at, the older ones gzipped
    batches: dict[str, list[str]] = {}
    broken = 0
    for event in events:
        moment = event.pop("_at")
        name = f"export_{moment.year}_q{(moment.month - 1) // 3 + 1}.jsonl"
        line = json.dumps(event, ensure_ascii=False)
        if rng.random() < 0.004:
            line = _broken_line(rng, line)
            broken += 1
        batches.setdefault(name, []).append(line)
    names = sorted(batches)
    for i, name in enumerate(names):
        data = ("\n".join(batches[name]) + "\n").encode("utf-8")
        if i < len(names) // 2:
            (out / "requests" / (name + ".gz")).write_bytes(gzip.compress(data, mtime=0))
        else:
            (out / "requests" / name).write_bytes(data)

    _write_csv(out / "directory" / "account_identifiers.csv",
               ("account_id", "identifier_type", "identifier_value", "valid_from", "valid_to"), gen.directory_rows())
    videos = [(v, a.account_id) for a in gen.accounts for v in a.videos]
    (out / "directory" / "videos.csv.gz").write_bytes(gzip.compress(_csv_bytes(("video_id", "account_id"), videos), mtime=0))
    _write_csv(out / "directory" / "short_links.csv", ("code", "target_url"), sorted(gen.short_links.items()))
    return {"requests": requests, "events": len(events), "broken_lines": broken, "accounts": len(gen.accounts)}


def _csv_bytes(header: tuple[str, ...], rows) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _write_csv(path: Path, header: tuple[str, ...], rows) -> None:
    path.write_bytes(_csv_bytes(header, rows))
