"""Text and phone helpers that SQL cannot do itself; registered as DuckDB functions.

Only three rules live here, because they need Python libraries: Unicode NFKC
normalisation with removal of invisible format characters, IP address recognition
with `ipaddress`, and phone parsing with `phonenumbers`. Every other identifier rule
lives in the dbt models.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

import phonenumbers

# Invisible characters besides the "format" category Cf (zero-width spaces and joiners, bidi
# marks, the BOM, soft hyphen, tag characters): variation selectors, the combining grapheme
# joiner and the Mongolian free variation selectors.
_INVISIBLE_MARKS = re.compile("[\u034f\u180b-\u180d\ufe00-\ufe0f\U000e0100-\U000e01ef]")
_WHITESPACE_RUN = re.compile(r"\s+")
_ZONE = re.compile(r"[0-9A-Za-z_.-]+")


def normalize_text(value: str | None) -> str | None:
    """NFKC-normalise, drop invisible characters, collapse and trim whitespace."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", value)
    text = "".join(c for c in _INVISIBLE_MARKS.sub("", text) if unicodedata.category(c) != "Cf")
    return _WHITESPACE_RUN.sub(" ", text).strip()


def is_ip_address(value: str | None) -> bool | None:
    """True for an IPv4 address (four numbers 0-255, no leading zeros) or an IPv6 address.

    `ipaddress` refuses leading zeros in IPv4 octets, so `078.123.83.74` (a Swiss phone
    number written with dots) is not an address, nor is `612.34.62.90`.
    """
    if value is None:
        return None
    address, percent, zone = value.partition("%")
    if percent and not _ZONE.fullmatch(zone):  # an IPv6 zone is an interface name, not any text
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def phone_e164(value: str | None, region: str | None) -> str | None:
    """E.164 form of a phone number read with `region` as default, or None if it is not a possible number.

    Accepts `tel:` and the international prefix `00` in front of the number.
    """
    if value is None:
        return None
    text = value.strip()
    if text[:4].lower() == "tel:":
        text = text[4:].strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if len(text) > 64:
        return None
    try:
        number = phonenumbers.parse(text, (region or "").upper() or None)
    except phonenumbers.NumberParseException:
        return None
    # a number diallable only locally (no area code) has no E.164 form
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
