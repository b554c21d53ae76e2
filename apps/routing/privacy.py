"""Detection of personal or secret data in prompts, for privacy routing.

The router runs :func:`detect_personal_data` on the text of every request (:func:`text_of_messages`); any finding
restricts the request to providers marked local or trusted. It sits on the hot path, so every pattern is compiled
once at import, each detector is skipped by a cheap substring pre-check when its trigger characters are absent, and
emails are found from their ``@`` rather than by scanning with a regex.

Detection favours precision: each regex candidate must also pass a validation step, so that near misses (dates,
versions, prices, order numbers, placeholders, checksum failures) do not trigger. The rules:

- email: ``local@label.….tld``; the local part is ASCII letters, digits and ``._%+-`` (starting with a letter or
  digit, no ``..``, not ending in ``.``); at least one dot in the domain; the TLD is 2–24 letters and not a file
  extension (``logo@2x.png``). Not: ``@mentions``, ``user@localhost``, ``a@b.c``, ``git@github.com:org/repo``.
- phone: (a) international ``+`` then 8–15 digits in groups separated by single spaces, dots or dashes, with an
  optional group in parentheses; dotted groups of exactly three digits (``+12.345.678``, a thousands-grouped change)
  and ``+YYYY-MM-DD`` are not phones. (b) national formats with separators: North American ``(555) 123-4567``,
  ``555-123-4567``, ``555.123.4567``, ``1-800-555-0199`` (same separator twice, area code starting 2–9, so the
  ``123-456-7890`` placeholder is not one); French ``06 12 34 56 78`` (0 + 9 digits in pairs, one separator kind);
  UK ``020 7946 0958`` / ``07700 900123`` (0 + 10 digits, space separated). Never: unseparated national numbers, a
  number glued to a word, ``#``, ``$``, ``-``, ``/`` or ``.`` (order numbers, SKUs, paths), or that is part of a
  longer digit-group run; dates, times, versions, prices and ISBNs do not have these shapes.
- card: 13–19 digits, unseparated or grouped by one kind of separator (space or dash) as 4 + groups of 4–6 with a
  last group of 3–6 (4-4-4-4, 4-6-5, 4-6-4, 4-4-4-4-3); must pass Luhn AND carry a known IIN with a length valid
  for the brand (Visa 4: 13/16/19; Mastercard 51–55, 2221–2720: 16; Amex 34/37: 15; Discover 6011/644–649/65:
  16–19; JCB 3528–3589: 16–19; Diners 300–305/36/38: 14–19). Luhn-valid numbers without a card IIN do not count.
- iban: upper-case country code with a known length (the SWIFT registry, ~80 countries), 2 check digits, BBAN
  unspaced or spaced every 4; the length must match the country exactly and ISO 13616 mod-97 must equal 1.
- national_id: US SSN ``AAA-GG-SSSS`` with dashes (area not 000, 666 or 900–999; group not 00; serial not 0000);
  UK National Insurance number (prefix letters per HMRC: first not D F I Q U V, second not D F I O Q U V, not BG
  GB KN NK NT TN ZZ; six digits; suffix A–D; unspaced or spaced in pairs); French NIR (sex 1/2, year, month 01–12
  or 20–99, department incl. 2A/2B, commune, order, key = 97 − (number mod 97), unspaced or spaced
  ``1 84 12 76 451 089 46``). Not covered: German Steuer-ID and other national numbers.
- secret: ``sk-`` keys (incl. ``sk-proj-``, ``sk-ant-``, ``sk-or-``, ``sk-sy-``) with ≥ 20 key characters that
  look random (a digit and a letter, ≥ 10 distinct characters, a 16+ alphanumeric run, no ``xxxx``); Stripe
  ``sk_live_``/``rk_live_``/``sk_test_``; AWS ``AKIA``/``ASIA`` + 16; GitHub ``ghp_``/``gho_``/``ghu_``/``ghs_``/
  ``ghr_`` + 36 and ``github_pat_``; Slack ``xox[baprs]-``; Google ``AIza`` + 35; JWTs whose header and payload
  decode to JSON objects and whose header has ``alg``; PEM/OpenSSH/PGP private key blocks with a base64 body;
  ``Bearer <token>`` with a random-looking token of ≥ 20 characters.
- ip_address: IPv4 dotted quads, octets 0–255 without leading zeros, not inside a longer dotted number, not glued
  to a word (``v1.2.3.4``) and not after "version", "release", "build", "section", "chapter" or ``§``; IPv6 validated
  by :mod:`ipaddress`, with a digit and two non-empty groups (three if all groups are decimal, so the Python slice
  ``a[1::2]`` is not one). Loopback, unspecified and netmask (``255.255.255.0``) addresses are not reported.

Overlapping findings keep the more specific kind: secret > email > iban > card > national_id > ip_address > phone
(then the longer span). Previews are masked and never contain the raw value.
"""

from __future__ import annotations

import base64
import bisect
import ipaddress
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["KINDS", "Finding", "detect_personal_data", "text_of_messages"]

KINDS = ("email", "phone", "card", "iban", "national_id", "secret", "ip_address")
_PRIORITY = {"secret": 0, "email": 1, "iban": 2, "card": 3, "national_id": 4, "ip_address": 5, "phone": 6}


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # one of KINDS
    start: int
    end: int
    preview: str  # masked, never the raw value


# --------------------------------------------------------------------------------------------------------- masking


def _mask_keep_last(value: str, keep: int) -> str:
    """Every letter or digit except the last `keep` becomes "*"; separators stay (e.g. "**** **** **** 4242")."""
    remaining = sum(c.isalnum() for c in value)
    out = []
    for c in value:
        if c.isalnum():
            out.append(c if remaining <= keep else "*")
            remaining -= 1
        else:
            out.append(c)
    return "".join(out)


def _mask_secret(value: str, prefix: str) -> str:
    return f"{prefix}****{value[-4:]}" if len(value) >= len(prefix) + 12 else f"{prefix}****"


# ----------------------------------------------------------------------------------------------------------- email

_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_EMAIL_LOCAL_CHARS = _ASCII_ALNUM | frozenset("._%+-")
_EMAIL_DOMAIN = re.compile(
    r"((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+)([A-Za-z]{2,24})"
    r"(?![\w-]|\.[A-Za-z0-9]|:[\w~/])"  # the whole TLD; not an SSH remote like git@github.com:org/repo
)
_NOT_TLDS = frozenset(
    {
        *("png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "tif", "tiff", "heic"),
        *("css", "js", "mjs", "cjs", "jsx", "ts", "tsx", "json", "html", "htm", "txt", "xml", "yaml", "yml", "toml"),
        *("ini", "cfg", "lock", "pdf", "csv", "tsv", "java", "kt", "rb", "go", "php", "cpp", "hpp", "swift", "scala"),
    }
)


def _emails(text: str) -> Iterator[Finding]:
    at = text.find("@")
    while at != -1:
        start, floor = at, max(0, at - 64)
        while start > floor and text[start - 1] in _EMAIL_LOCAL_CHARS:
            start -= 1
        while start < at and text[start] not in _ASCII_ALNUM:
            start += 1
        local = text[start:at]
        match = _EMAIL_DOMAIN.match(text, at + 1) if local else None
        if (
            match
            and ".." not in local
            and not local.endswith(".")
            and match.group(2).lower() not in _NOT_TLDS
            and not (start == floor and start > 0 and text[start - 1] in _EMAIL_LOCAL_CHARS)
        ):
            first_label = match.group(1).split(".", 1)[0]
            preview = f"{local[0]}***@{first_label[0]}***.{match.group(2)}"
            yield Finding("email", start, match.end(), preview)
            at = text.find("@", match.end())
        else:
            at = text.find("@", at + 1)


# ----------------------------------------------------------------------------------------------------------- phone

# Not glued to a word, "+", "#", "$", "€", "£", "/", "." or "-" (order numbers, SKUs, paths, prices), nor the
# continuation of a digit-group run.
_PHONE_BEFORE = r"(?<![\w+#$€£/.\-])(?<!\d[ .\-])"
_PHONE_AFTER = r"(?!\w)(?![ .\-/,]?\d)"
_PHONE_INTL = re.compile(r"(?<![\w+])\+\d{1,4}(?:[ .\-]?(?:\(\d{1,5}\)|\d{1,6})){1,7}" + _PHONE_AFTER)
_PHONE_NANP = re.compile(
    _PHONE_BEFORE
    + r"(?:1[ .\-]?)?(?:\((?P<area1>\d{3})\) ?|(?P<area2>\d{3})(?P<sep1>[ .\-]))\d{3}(?P<sep2>[ .\-])\d{4}"
    + _PHONE_AFTER
)
_PHONE_FR = re.compile(_PHONE_BEFORE + r"0[1-9](?P<sep>[ .\-])\d{2}(?:(?P=sep)\d{2}){3}" + _PHONE_AFTER)
_PHONE_UK = re.compile(_PHONE_BEFORE + r"0\d{2,4} \d{3,4} ?\d{3,4}" + _PHONE_AFTER)
_THOUSANDS = re.compile(r"\+\d{1,3}(?:[.,]\d{3})+")
_PLUS_DATE = re.compile(r"\+\d{4}-\d{2}-\d{2}")


def _digit_count(value: str) -> int:
    return sum(c.isdigit() for c in value)


def _phone(start: int, value: str) -> Finding:
    return Finding("phone", start, start + len(value), _mask_keep_last(value, 2))


def _phones(text: str, lo: int, hi: int, digits: int) -> Iterator[Finding]:
    if "+" in text[lo:hi]:
        for m in _PHONE_INTL.finditer(text, lo, hi):
            value = m.group()
            if 8 <= _digit_count(value) <= 15 and not _THOUSANDS.fullmatch(value) and not _PLUS_DATE.fullmatch(value):
                yield _phone(m.start(), value)
    if digits < 10:
        return
    for m in _PHONE_NANP.finditer(text, lo, hi):
        area = m.group("area1") or m.group("area2")
        if area[0] not in "01" and (m.group("sep1") is None or m.group("sep1") == m.group("sep2")):
            yield _phone(m.start(), m.group())
    for m in _PHONE_FR.finditer(text, lo, hi):
        yield _phone(m.start(), m.group())
    for m in _PHONE_UK.finditer(text, lo, hi):
        if _digit_count(m.group()) == 11:
            yield _phone(m.start(), m.group())


# ------------------------------------------------------------------------------------------------------------ card

_DIGIT_RUN = re.compile(r"\d+(?:[ \-]\d+)*")
_DIGIT_GROUP = re.compile(r"\d+")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_brand_ok(digits: str) -> bool:
    n = len(digits)
    p2, p3, p4 = int(digits[:2]), int(digits[:3]), int(digits[:4])
    if digits[0] == "4":  # Visa
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard
        return n == 16
    if p2 in (34, 37):  # American Express
        return n == 15
    if p4 == 6011 or p2 == 65 or 644 <= p3 <= 649:  # Discover
        return 16 <= n <= 19
    if 3528 <= p4 <= 3589:  # JCB
        return 16 <= n <= 19
    if 300 <= p3 <= 305 or p2 in (36, 38):  # Diners Club
        return 14 <= n <= 19
    return False


# Printed groupings: 4-4-4-4 (16), 4-4-4-4-3 (19), 4-4-4-4-1/2 (17/18), 4-6-5 (Amex), 4-6-4 (Diners), 4-4-4-1 (Visa 13).
_CARD_GROUPINGS = frozenset(
    {(4, 4, 4, 4), (4, 4, 4, 4, 3), (4, 4, 4, 4, 1), (4, 4, 4, 4, 2), (4, 6, 5), (4, 6, 4), (4, 4, 4, 1)}
)


def _card_number_ok(digits: str) -> bool:
    return _card_brand_ok(digits) and _luhn_ok(digits)


def _cards(text: str, lo: int, hi: int) -> Iterator[Finding]:
    for run in _DIGIT_RUN.finditer(text, lo, hi):
        start, end = run.span()
        if end - start < 13:
            continue
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        if before.isalpha() or before == "_" or after.isalpha() or after == "_":
            continue
        if (before in ".," and start > 1 and text[start - 2].isdigit()) or (
            after in ".," and end + 1 < len(text) and text[end + 1].isdigit()
        ):
            continue  # a decimal number
        groups = [(g.start(), g.end()) for g in _DIGIT_GROUP.finditer(text, start, end)]
        lengths = [e - s for s, e in groups]
        i = 0
        while i < len(groups):
            span = None
            if 13 <= lengths[i] <= 19:
                if _card_number_ok(text[groups[i][0] : groups[i][1]]):
                    span = (i, i)
            elif lengths[i] == 4:
                for size in (4, 5, 3):
                    j = i + size - 1
                    if j >= len(groups) or tuple(lengths[i : j + 1]) not in _CARD_GROUPINGS:
                        continue
                    if len({text[groups[k][1]] for k in range(i, j)}) != 1:
                        continue
                    digits = "".join(text[a:b] for a, b in groups[i : j + 1])
                    if _card_number_ok(digits):
                        span = (i, j)
                        break
            if span is None:
                i += 1
                continue
            value = text[groups[span[0]][0] : groups[span[1]][1]]
            yield Finding("card", groups[span[0]][0], groups[span[1]][1], _mask_keep_last(value, 4))
            i = span[1] + 1


# ------------------------------------------------------------------------------------------------------------ iban

# fmt: off
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "BY": 28,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19,
    "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}
# fmt: on
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,8}(?: ?[A-Z0-9]{1,3})?")


def _iban_checksum_ok(compact: str) -> bool:
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _ibans(text: str, lo: int, hi: int) -> Iterator[Finding]:
    for m in _IBAN.finditer(text, lo, hi):
        value = m.group()
        length = _IBAN_LENGTHS.get(value[:2])
        if length is None:
            continue
        # The run may continue into a following upper-case word: cut it at the country's length.
        count, end = 0, m.start()
        for k, c in enumerate(value):
            if c != " ":
                count += 1
                if count == length:
                    end = m.start() + k + 1
                    break
        if count < length or (end < len(text) and text[end].isalnum()):
            continue
        compact = text[m.start() : end].replace(" ", "")
        if _iban_checksum_ok(compact):
            yield Finding("iban", m.start(), end, f"{compact[:4]} **** {compact[-4:]}")


# ----------------------------------------------------------------------------------------------------- national id

_SSN = re.compile(r"(?<![\w.\-])(\d{3})-(\d{2})-(\d{4})(?!\w)(?!-\d)")
_NINO = re.compile(
    r"(?<![A-Za-z0-9])(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]( ?)\d{2}\1\d{2}\1\d{2}\1[A-D]"
    r"(?![A-Za-z0-9])"
)
_NIR = re.compile(
    r"(?<![\w.\-])(?P<sex>[12])(?P<s> ?)(?P<year>\d{2})(?P=s)(?P<month>\d{2})(?P=s)(?P<dept>\d{2}|2[AB])(?P=s)"
    r"(?P<commune>\d{3})(?P=s)(?P<order>\d{3}) ?(?P<key>\d{2})(?!\w)(?! ?\d)"
)


def _national_ids(text: str, lo: int, hi: int, digits: int) -> Iterator[Finding]:
    if digits >= 9 and "-" in text[lo:hi]:
        for m in _SSN.finditer(text, lo, hi):
            area, group, serial = m.groups()
            if area != "000" and area != "666" and area[0] != "9" and group != "00" and serial != "0000":
                yield Finding("national_id", m.start(), m.end(), f"***-**-{serial}")
    for m in _NINO.finditer(text, lo, hi):
        yield Finding("national_id", m.start(), m.end(), _mask_keep_last(m.group(), 1))
    if digits < 13 and "2A" not in text[lo:hi] and "2B" not in text[lo:hi]:  # Corsican NIRs split the digit run
        return
    for m in _NIR.finditer(text, lo, hi):
        month, dept = int(m.group("month")), m.group("dept")
        if not (1 <= month <= 12 or month >= 20) or dept == "00":
            continue
        dept_digits = {"2A": "19", "2B": "18"}.get(dept, dept)
        number = int(
            m.group("sex") + m.group("year") + m.group("month") + dept_digits + m.group("commune") + m.group("order")
        )
        if int(m.group("key")) == 97 - number % 97:
            yield Finding("national_id", m.start(), m.end(), _mask_keep_last(m.group(), 2))


# ---------------------------------------------------------------------------------------------------------- secret

_LONGEST_ALNUM_RUN = re.compile(r"[A-Za-z0-9]+")


def _looks_random(value: str, *, min_distinct: int = 8, min_run: int = 12, need_digit: bool = True) -> bool:
    """A key rather than a word, a sentence or a placeholder like sk-xxxxxxxxxxxxxxxxxxxxxxxx."""
    if len(set(value)) < min_distinct or "xxxx" in value.lower():
        return False
    if need_digit and not (any(c.isdigit() for c in value) and any(c.isalpha() for c in value)):
        return False
    return max((len(r) for r in _LONGEST_ALNUM_RUN.findall(value)), default=0) >= min_run


def _b64url_json_object(segment: str) -> dict | None:
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except ValueError:  # binascii.Error, UnicodeDecodeError and JSONDecodeError are all ValueErrors
        return None
    return value if isinstance(value, dict) else None


def _jwt_ok(value: str) -> bool:
    header, payload, signature = value.split(".")
    head = _b64url_json_object(header)
    if head is None or not isinstance(head.get("alg"), str) or _b64url_json_object(payload) is None:
        return False
    return len(signature) >= 16 or (head["alg"].lower() == "none" and not signature)


# Literal first (so the regex engine can search for it), the word-boundary lookbehind after it.
_SECRET_PATTERNS: tuple[tuple[tuple[str, ...], re.Pattern, Callable[[str], bool], Callable[[str], str]], ...] = (
    (
        ("sk-",),
        re.compile(r"sk-(?<![\w\-]sk-)[A-Za-z0-9_\-]{20,}"),
        lambda v: _looks_random(v[3:], min_distinct=10, min_run=16),
        lambda v: _mask_secret(v, "sk-"),
    ),
    (
        ("k_live_", "k_test_"),
        re.compile(r"(?<![\w\-])[sr]k_(?:live|test)_[A-Za-z0-9]{20,}"),
        lambda v: _looks_random(v[8:]),
        lambda v: _mask_secret(v, v[:8]),
    ),
    (
        ("AKIA", "ASIA"),
        re.compile(r"(?<![A-Za-z0-9])A[KS]IA[0-9A-Z]{16}(?![A-Za-z0-9])"),
        lambda v: len(set(v[4:])) >= 6,
        lambda v: _mask_secret(v, v[:4]),
    ),
    (
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        re.compile(r"(?<![\w\-])gh[pousr]_[A-Za-z0-9]{36,255}(?!\w)"),
        lambda v: _looks_random(v[4:], need_digit=False),
        lambda v: _mask_secret(v, v[:4]),
    ),
    (
        ("github_pat_",),
        re.compile(r"(?<![\w\-])github_pat_[A-Za-z0-9_]{40,255}(?!\w)"),
        lambda v: _looks_random(v[11:], need_digit=False),
        lambda v: _mask_secret(v, "github_pat_"),
    ),
    (
        ("xox",),
        re.compile(r"(?<![\w\-])xox[baprs]-(?:[A-Za-z0-9]+-)+[A-Za-z0-9]{8,}(?![\w\-])"),
        lambda v: len(v) >= 30 and _looks_random(v[5:], min_run=8),
        lambda v: _mask_secret(v, v[:5]),
    ),
    (
        ("AIza",),
        re.compile(r"(?<![\w\-])AIza[0-9A-Za-z_\-]{35}(?![\w\-])"),
        lambda v: _looks_random(v[4:], min_run=6, need_digit=False),
        lambda v: _mask_secret(v, "AIza"),
    ),
    (
        ("eyJ",),
        re.compile(r"eyJ(?<![\w\-.]eyJ)[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*(?![\w\-.])"),
        _jwt_ok,
        lambda v: _mask_secret(v, "eyJ"),
    ),
    (
        ("earer",),
        re.compile(r"(?<!\w)[Bb]earer[ \t]+[A-Za-z0-9\-._~+/]{20,}=*(?![\w\-.~+/])"),
        lambda v: _looks_random(v[6:].strip()),
        lambda v: _mask_secret(v, "Bearer "),
    ),
)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----\s+(?:[\w-]+: [^\r\n]*\s+)*[A-Za-z0-9+/=]{40,}"
)
_BASE64_LINES = re.compile(r"(?:\s*[A-Za-z0-9+/=]{4,})*")


def _secrets(text: str) -> Iterator[Finding]:
    for literals, pattern, valid, preview in _SECRET_PATTERNS:
        if any(literal in text for literal in literals):
            for m in pattern.finditer(text):
                if valid(m.group()):
                    yield Finding("secret", m.start(), m.end(), preview(m.group()))
    if "PRIVATE KEY" in text:
        for m in _PRIVATE_KEY.finditer(text):
            end_marker = f"-----END {m.group(1)}PRIVATE KEY{m.group(2) or ''}-----"
            body_end = _BASE64_LINES.match(text, m.end()).end()
            tail = text[body_end : body_end + len(end_marker) + 4]
            offset = tail.find(end_marker)
            end = body_end + offset + len(end_marker) if offset != -1 and not tail[:offset].strip() else body_end
            yield Finding("secret", m.start(), end, f"-----BEGIN {m.group(1)}PRIVATE KEY{m.group(2) or ''}----- ****")


# ------------------------------------------------------------------------------------------------------ ip address

_IPV4 = re.compile(r"(?<![\w.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?!\w)(?!\.\d)")
_VERSION_CONTEXT = re.compile(r"(?:\b(?:v|ver|version|release|build|section|chapter)\.?|§)\s*[:=#]?\s*$", re.IGNORECASE)
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:|::)[0-9A-Fa-f:.]*")
_IPV4_SEED = re.compile(r"\.[0-9]{1,3}\.[0-9]{1,3}\.")
_IPV6_SEED = re.compile(r":[0-9A-Fa-f]{0,4}:")


def _ipv4_ok(octets: tuple[str, ...]) -> bool:
    if any((len(o) > 1 and o[0] == "0") or int(o) > 255 for o in octets):
        return False
    value = int.from_bytes(bytes(int(o) for o in octets), "big")
    inverted = ~value & 0xFFFFFFFF
    is_netmask = octets[0] == "255" and inverted & (inverted + 1) == 0  # also 255.255.255.255
    return not (is_netmask or octets[0] == "127" or value == 0)


def _ipv6_address(candidate: str) -> str | None:
    candidate = candidate.rstrip(".")
    if candidate.endswith(":") and not candidate.endswith("::"):
        candidate = candidate[:-1]
    colons = candidate.count(":")
    if "::" not in candidate and not (colons == 7 or (colons == 6 and "." in candidate)):
        return None  # times (12:30:45), MAC addresses (6 groups), ratios
    groups = [g for g in candidate.split(":") if g]
    if len(groups) < 2 or not any(c.isdigit() for c in candidate):
        return None
    if len(groups) < 3 and all(g.isdigit() for g in groups):
        return None  # a slice like a[1::2] or a ratio, not an address
    try:
        address = ipaddress.IPv6Address(candidate)
    except ValueError:
        return None
    return None if address.is_loopback or address.is_unspecified else candidate


def _ip_addresses(text: str) -> Iterator[Finding]:
    # Full-text regexes cost ~30 ns a character in `re` unless they start with a literal: find seeds (".d.d." and
    # ":h:") with literal-led patterns, then match the address in a small window around each seed.
    pos = 0
    while seed := _IPV4_SEED.search(text, pos):
        m = _IPV4.search(text, max(0, seed.start() - 3), seed.start() + 16)
        pos = seed.start() + 1
        if m is None:
            continue
        pos = m.end()
        if _ipv4_ok(m.groups()) and not _VERSION_CONTEXT.search(text, max(0, m.start() - 24), m.start()):
            a, b, _, _ = m.groups()
            yield Finding("ip_address", m.start(), m.end(), f"{a}.{b}.*.*")
    if "::" not in text and text.count(":") < 7:
        return
    pos = 0
    while seed := _IPV6_SEED.search(text, pos):
        m = _IPV6.search(text, max(0, seed.start() - 4), seed.start() + 50)
        pos = seed.start() + 1
        if m is None:
            continue
        pos = max(pos, m.end())
        end = m.end()
        if end < len(text) and (text[end].isalnum() or text[end] == "_"):
            continue
        address = _ipv6_address(m.group())
        if address is not None:
            first = address.split(":", 1)[0]
            yield Finding("ip_address", m.start(), m.start() + len(address), f"{first or ''}:****")


# ------------------------------------------------------------------------------------------------------------- API

# Gate for the digit detectors: text as latin-1 bytes (one byte a character, so offsets are kept; other characters
# become "?"), digits mapped to "0", separators to "-", the rest to "x". Regions of 6+ digits (up to two separators
# apart) are found with a literal-led regex, ~20 ns a character; the detectors then run only in a window around each
# region (wide enough for an IBAN's letters or a "+"/"(" before the digits), and only those a region's digit count
# allows.
_GATE_TABLE = bytes(0x30 if 0x30 <= i <= 0x39 else 0x2D if i in b" -.()/" else 0x78 for i in range(256))
_GATE = re.compile(rb"0(?:-{0,2}0){5,}")
_MARGIN = 20


def _digit_regions(text: str) -> list[tuple[int, int, int]]:
    """(window start, window end, most digits in one dense region) for each window, windows merged when they meet."""
    shape = text.encode("latin-1", "replace").translate(_GATE_TABLE)
    regions: list[tuple[int, int, int]] = []
    for m in _GATE.finditer(shape):
        lo, hi = max(0, m.start() - _MARGIN), min(len(text), m.end() + _MARGIN)
        digits = shape.count(b"0", m.start(), m.end())
        if regions and lo <= regions[-1][1]:
            regions[-1] = (regions[-1][0], hi, max(regions[-1][2], digits))
        else:
            regions.append((lo, hi, digits))
    return regions


def _resolve_overlaps(candidates: list[Finding]) -> list[Finding]:
    """Keep the most specific kind (then the longest span) of overlapping findings; result sorted by start."""
    candidates.sort(key=lambda f: (_PRIORITY[f.kind], f.start - f.end, f.start))
    starts: list[int] = []
    ends: list[int] = []
    kept: list[Finding] = []
    for finding in candidates:
        i = bisect.bisect_right(starts, finding.start)
        if (i and ends[i - 1] > finding.start) or (i < len(starts) and starts[i] < finding.end):
            continue
        starts.insert(i, finding.start)
        ends.insert(i, finding.end)
        kept.insert(i, finding)
    return kept


def detect_personal_data(text: str) -> list[Finding]:
    """Personal or secret data in `text`, sorted by start, overlapping findings resolved to the most specific kind."""
    if not text:
        return []
    candidates: list[Finding] = []
    if "@" in text:
        candidates.extend(_emails(text))
    candidates.extend(_secrets(text))
    if "." in text or ":" in text:
        candidates.extend(_ip_addresses(text))
    for lo, hi, digits in _digit_regions(text):
        candidates.extend(_ibans(text, lo, hi))
        candidates.extend(_national_ids(text, lo, hi, digits))
        if digits >= 8:
            candidates.extend(_phones(text, lo, hi, digits))
        if digits >= 13:
            candidates.extend(_cards(text, lo, hi))
    return _resolve_overlaps(candidates) if len(candidates) > 1 else candidates


_TEXT_PART_TYPES = frozenset({"text", "input_text"})


def text_of_messages(messages: list[dict]) -> str:
    """The text an upstream provider would see in OpenAI chat `messages`: string contents, text parts and tool-call
    arguments, joined with "\\n" (images, audio and files are ignored)."""
    texts: list[str] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            for part in content:
                if (
                    isinstance(part, dict)
                    and part.get("type") in _TEXT_PART_TYPES
                    and isinstance(part.get("text"), str)
                ):
                    texts.append(part["text"])
        calls = message.get("tool_calls")
        functions = [c.get("function") for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []
        functions.append(message.get("function_call"))
        for function in functions:
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                texts.append(function["arguments"])
    return "\n".join(t for t in texts if t)
