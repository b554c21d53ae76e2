"""The personal/secret data detector used by privacy routing: positives in context, near misses, masking."""

import base64
import json

import pytest

from apps.routing.privacy import KINDS, Finding, detect_personal_data, text_of_messages


def _b64url(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


JWT = ".".join(
    (
        _b64url({"alg": "HS256", "typ": "JWT"}),
        _b64url({"sub": "1234567890", "name": "Jane"}),
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    )
)
PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\n"
    "aFDrBz9vFqU4yZ8pR2xW3kLmN7oQ1sT5uV6wX9yZ0aB1cD2eF3gH4iJ5kL6mN7oP\n"
    "-----END RSA PRIVATE KEY-----"
)


def kinds_and_values(text: str) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start : f.end]) for f in detect_personal_data(text)]


def assert_single(text: str, kind: str, value: str) -> Finding:
    findings = detect_personal_data(text)
    assert [(f.kind, text[f.start : f.end]) for f in findings] == [(kind, value)]
    finding = findings[0]
    assert kind in KINDS
    assert value not in finding.preview
    assert "*" in finding.preview
    return finding


def assert_nothing(text: str) -> None:
    assert detect_personal_data(text) == [], text


# ---------------------------------------------------------------------------------------------------------- email


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Please reply to john.doe@example.com today.", "john.doe@example.com"),
        ("Contact: <j_smith+newsletter@mail.example.co.uk>", "j_smith+newsletter@mail.example.co.uk"),
        ("Email ANNA.MUELLER@Firma-GmbH.DE, thanks", "ANNA.MUELLER@Firma-GmbH.DE"),
        ("mailto:ops-team@startup.io?subject=hi", "ops-team@startup.io"),
        ("sent by x@sub.domain.museum.", "x@sub.domain.museum"),
    ],
)
def test_email_positive(text, value):
    assert_single(text, "email", value)


def test_email_preview_is_masked():
    finding = assert_single("write to john@example.com", "email", "john@example.com")
    assert finding.preview == "j***@e***.com"


@pytest.mark.parametrize(
    "text",
    [
        "thanks @john and @mary-jane for the review",
        "ssh user@localhost or root@server",
        "the address a@b.c has a one-letter TLD",
        "decorators like @property and @dataclass(frozen=True)",
        "use logo@2x.png and icon@3x.webp for retina",
        "git clone git@github.com:acme/repo.git",
        "pip install package@1.2.3",
        "weird john..doe@example.com is not valid",
        "npm i @scope/pkg@latest",
    ],
)
def test_email_near_misses(text):
    assert_nothing(text)


# ---------------------------------------------------------------------------------------------------------- phone


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Call me on +44 20 7946 0958 tomorrow.", "+44 20 7946 0958"),
        ("US office: +1 (555) 123-4567.", "+1 (555) 123-4567"),
        ("WhatsApp +14155552671 any time", "+14155552671"),
        ("phone (555) 123-4567 ext. 12", "(555) 123-4567"),
        ("her number is 555-123-4567, call after 6", "555-123-4567"),
        ("toll free 1-800-555-0199", "1-800-555-0199"),
        ("portable : 06 12 34 56 78 (France)", "06 12 34 56 78"),
        ("or 06.12.34.56.78", "06.12.34.56.78"),
        ("London line 020 7946 0958", "020 7946 0958"),
        ("Deutschland +49 30 901820 Zentrale", "+49 30 901820"),
    ],
)
def test_phone_positive(text, value):
    assert_single(text, "phone", value)


def test_phone_preview_keeps_only_last_two_digits():
    finding = assert_single("ring +44 20 7946 0958", "phone", "+44 20 7946 0958")
    assert finding.preview == "+** ** **** **58"


@pytest.mark.parametrize(
    "text",
    [
        "The release date is 2024-01-15 at 12:30:45 UTC.",
        "meeting 15/01/2024 from 09:00 to 17:30",
        "upgrade to 1.2.3 then 10.4.12",
        "it costs $1,234,567.89 or €12.345.678,00",
        "revenue grew +12.345.678 this year",
        "order ORD5551234567 and invoice INV-555-123-4567",
        "ticket #555-123-4567 was closed",
        "see /api/v1/555-123-4567/items",
        "ISBN 978-3-16-148410-0 and 0-306-40615-2",
        "call 555-1234 (seven digits is not enough)",
        "placeholder 123-456-7890 is not a NANP number",
        "unseparated 5551234567 is not flagged",
        "a digit run 12 555 123 4567 89 is not a phone",
        "offset +05:30 and timestamp 2024-01-15T10:00:00+01:00",
    ],
)
def test_phone_near_misses(text):
    assert_nothing(text)


# ----------------------------------------------------------------------------------------------------------- card


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("My card is 4242 4242 4242 4242, exp 12/27.", "4242 4242 4242 4242"),
        ("visa 4111-1111-1111-1111 cvc 123", "4111-1111-1111-1111"),
        ("Mastercard 5555555555554444 please", "5555555555554444"),
        ("new MC range 2223 0031 2200 3222", "2223 0031 2200 3222"),
        ("amex 3782 822463 10005 is mine", "3782 822463 10005"),
        ("amex 371449635398431", "371449635398431"),
        ("discover 6011 1111 1111 1117", "6011 1111 1111 1117"),
        ("jcb 3530111333300000", "3530111333300000"),
        ("diners 3056 930902 5904", "3056 930902 5904"),
        ("in 2024 4242 4242 4242 4242 was charged", "4242 4242 4242 4242"),
    ],
)
def test_card_positive(text, value):
    assert_single(text, "card", value)


def test_card_preview():
    finding = assert_single("card 4242 4242 4242 4242", "card", "4242 4242 4242 4242")
    assert finding.preview == "**** **** **** 4242"


@pytest.mark.parametrize(
    "text",
    [
        "card 4242 4242 4242 4241 fails Luhn",
        "random 1234 5678 9012 3456 fails Luhn",
        "Luhn-valid but no card prefix: 1234567812345670",
        "Luhn-valid 9999 9999 9999 9995 with no IIN",
        "amex length is 15, not 16: 3782 8224 6310 0052",
        "odd grouping 4242 42 4242 4242 42",
        "mixed separators 4242-4242 4242-4242",
        "tracking 4242424242424242X1",
        "decimal 4242424242424242.5 is a number",
    ],
)
def test_card_near_misses(text):
    findings = detect_personal_data(text)
    assert all(f.kind != "card" for f in findings), findings


# ----------------------------------------------------------------------------------------------------------- iban


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Überweisung an DE89 3704 0044 0532 0130 00 bitte.", "DE89 3704 0044 0532 0130 00"),
        ("IBAN: GB82WEST12345698765432", "GB82WEST12345698765432"),
        ("virement FR14 2004 1010 0505 0001 3M02 606.", "FR14 2004 1010 0505 0001 3M02 606"),
        ("conto IT60 X054 2811 1010 0000 0123 456", "IT60 X054 2811 1010 0000 0123 456"),
        ("rekening NL91 ABNA 0417 1643 00 en", "NL91 ABNA 0417 1643 00"),
        ("compte BE68 5390 0754 7034 THEN MORE", "BE68 5390 0754 7034"),
        ("Konto CH93 0076 2011 6238 5295 7", "CH93 0076 2011 6238 5295 7"),
        ("ES91 2100 0418 4502 0005 1332 is Spanish", "ES91 2100 0418 4502 0005 1332"),
    ],
)
def test_iban_positive(text, value):
    assert_single(text, "iban", value)


def test_iban_preview():
    finding = assert_single("pay DE89 3704 0044 0532 0130 00", "iban", "DE89 3704 0044 0532 0130 00")
    assert finding.preview == "DE89 **** 3000"


@pytest.mark.parametrize(
    "text",
    [
        "one digit changed DE89 3704 0044 0532 0130 01",
        "check digits changed DE88 3704 0044 0532 0130 00",
        "too short for DE: DE89 3704 0044 0532 0130",
        "too long GB82WEST123456987654321",
        "unknown country ZZ89 3704 0044 0532 0130 00",
        "glued IBANDE89370400440532013000X",
    ],
)
def test_iban_near_misses(text):
    findings = detect_personal_data(text)
    assert all(f.kind != "iban" for f in findings), findings


# ---------------------------------------------------------------------------------------------------- national id


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("SSN 123-45-6789 on file", "123-45-6789"),
        ("social security number: 078-05-1120.", "078-05-1120"),
        ("NI number AB 12 34 56 C for payroll", "AB 12 34 56 C"),
        ("NINO=JG103759A", "JG103759A"),
        ("NIR 1 84 12 76 451 089 46 (sécu)", "1 84 12 76 451 089 46"),
        ("numéro 184127645108946", "184127645108946"),
        ("Corse 2 69 05 2A 004 012 28", "2 69 05 2A 004 012 28"),
    ],
)
def test_national_id_positive(text, value):
    assert_single(text, "national_id", value)


def test_ssn_preview():
    finding = assert_single("ssn 123-45-6789", "national_id", "123-45-6789")
    assert finding.preview == "***-**-6789"


@pytest.mark.parametrize(
    "text",
    [
        "area 000: 000-12-3456",
        "area 666: 666-12-3456",
        "area 9xx: 912-34-5678",
        "group 00: 123-00-4567",
        "serial 0000: 123-45-0000",
        "spaces are not SSNs: 123 45 6789",
        "part code 1123-45-6789 and 123-45-67890",
        "QQ 12 34 56 C is the HMRC example with invalid letters",
        "prefixes GB123456A, BG 12 34 56 A, and suffix E: AB123456E",
        "wrong NIR key 1 84 12 76 451 089 47",
        "NIR month 13: 1 84 13 76 451 089 46",
        "Corsican NIR with a wrong key 2 69 05 2A 004 012 16",
    ],
)
def test_national_id_near_misses(text):
    findings = detect_personal_data(text)
    assert all(f.kind != "national_id" for f in findings), findings


# --------------------------------------------------------------------------------------------------------- secret


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("OPENAI_API_KEY=sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"),
        ("key sk-ant-api03-Qw7Er9Ty2Ui4Op6As8Df0Gh1Jk3Lz5Xc-AA", "sk-ant-api03-Qw7Er9Ty2Ui4Op6As8Df0Gh1Jk3Lz5Xc-AA"),
        ("router: sk-or-v1-0123456789abcdef0123456789abcdef", "sk-or-v1-0123456789abcdef0123456789abcdef"),
        ("gateway key sk-sy-9f8e7d6c5b4a39281706f5e4d3c2b1a0", "sk-sy-9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
        ("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
        ("token ghp_16C7e42F292c6912E7710c838347Ae178B4a here", "ghp_16C7e42F292c6912E7710c838347Ae178B4a"),
        (
            "slack xoxb-263594206564-2343051123421-FPo2JGspX9ZTPkPLZoaaj2ea",
            "xoxb-263594206564-2343051123421-FPo2JGspX9ZTPkPLZoaaj2ea",
        ),
        ("maps key AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe ok", "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe"),
        (f"cookie session={JWT}; path=/", JWT),
        (f"key file:\n{PRIVATE_KEY}\nend", PRIVATE_KEY),
        ("Authorization: Bearer 8f14e45fceea167a5a36dedd4bea2543", "Bearer 8f14e45fceea167a5a36dedd4bea2543"),
        (f"Authorization: Bearer {JWT}", f"Bearer {JWT}"),
    ],
)
def test_secret_positive(text, value):
    assert_single(text, "secret", value)


def test_secret_preview():
    key = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
    finding = assert_single(f"use {key}", "secret", key)
    assert finding.preview == "sk-****Xy4z"


@pytest.mark.parametrize(
    "text",
    [
        "set OPENAI_API_KEY=sk-... in your environment",
        "sk-ip is a short word and sk-learn is a library",
        "placeholder sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "placeholder sk-your-api-key-here-1234567890",
        "task-1234567890abcdef1234567890abcdef is a job id",
        "AKIA123 is too short",
        "ghp_ followed by ghp_short",
        "header Authorization: Bearer YOUR_API_KEY_GOES_HERE",
        "Bearer tokens expire after 3600 seconds",
        "the file starts with -----BEGIN RSA PRIVATE KEY----- and ends with the END line",
        "not a JWT: eyJhbGciOiJIUzI1NiJ9.not-base64-json.signature1234567890",
        "ASIA PACIFIC region and AIza prefix alone",
    ],
)
def test_secret_near_misses(text):
    assert_nothing(text)


def test_jwt_needs_alg_in_header():
    token = f"{_b64url({'typ': 'JWT'})}.{_b64url({'sub': '1'})}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6y"
    assert_nothing(f"token {token}")


# ----------------------------------------------------------------------------------------------------- ip address


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("The server is at 192.168.1.10, port 22.", "192.168.1.10"),
        ("curl http://203.0.113.45:8080/health", "203.0.113.45"),
        ("allow 10.0.0.0/8 in the firewall", "10.0.0.0"),
        ("client IP 8.8.8.8.", "8.8.8.8"),
        ("v6 host 2001:db8::8a2e:370:7334 is up", "2001:db8::8a2e:370:7334"),
        ("link-local fe80::1ff:fe23:4567:890a%eth0", "fe80::1ff:fe23:4567:890a"),
        ("full 2001:0db8:85a3:0000:0000:8a2e:0370:7334 form", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
        ("mapped ::ffff:192.0.2.128 address", "::ffff:192.0.2.128"),
        ("url http://[2001:db8::1]:8080/", "2001:db8::1"),
    ],
)
def test_ip_positive(text, value):
    finding = assert_single(text, "ip_address", value)
    assert finding.end - finding.start == len(value)


@pytest.mark.parametrize(
    "text",
    [
        "999.1.1.1 and 192.168.300.1 and 999.999.1.1 are not addresses",
        "version 1.2.3.4 and Version: 10.0.19041.1",
        "we shipped v1.2.3.4 and release 2.0.1.5 last week",
        "semver 1.2.3 and a long 1.2.3.4.5 dotted number",
        "section 2.1.3.4 of the spec",
        "leading zeros 01.02.03.04",
        "bind to 0.0.0.0 or 127.0.0.1 and use netmask 255.255.255.0",
        "loopback ::1 and unspecified ::",
        "C++ std::vector and Ruby Foo::Bar",
        "python slices a[1::2] and b[10::20]",
        "times 12:30:45 and MAC 00:1A:2B:3C:4D:5E",
    ],
)
def test_ip_near_misses(text):
    assert_nothing(text)


# ----------------------------------------------------------------------------------------------------- everything


def test_several_findings_sorted_by_start_with_masked_previews():
    text = (
        "Hi, I'm Jane (jane.roe@example.org, +33 6 12 34 56 78). Charge 5555 5555 5555 4444, "
        "wire to GB82 WEST 1234 5698 7654 32, my SSN is 123-45-6789, key sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z "
        "from 198.51.100.7."
    )
    found = kinds_and_values(text)
    assert found == [
        ("email", "jane.roe@example.org"),
        ("phone", "+33 6 12 34 56 78"),
        ("card", "5555 5555 5555 4444"),
        ("iban", "GB82 WEST 1234 5698 7654 32"),
        ("national_id", "123-45-6789"),
        ("secret", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"),
        ("ip_address", "198.51.100.7"),
    ]
    for finding in detect_personal_data(text):
        assert text[finding.start : finding.end] not in finding.preview


def test_overlaps_keep_the_more_specific_kind():
    # A card number is also digit groups a phone regex could see; an IBAN contains long digit runs.
    assert kinds_and_values("card 4111 1111 1111 1111") == [("card", "4111 1111 1111 1111")]
    assert kinds_and_values("+4242 4242 4242 4242") == [("card", "4242 4242 4242 4242")]
    assert kinds_and_values("iban DE89370400440532013000") == [("iban", "DE89370400440532013000")]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Plain English with no personal data at all.",
        "def f(x):\n    return x @ w.T + b  # matmul\nprint(f'{n:,}')",
        "On 2024-01-15 the p99 latency was 1,234.5 ms across 12 regions (v3.2.1).",
    ],
)
def test_clean_text(text):
    assert_nothing(text)


def test_finding_is_frozen():
    finding = Finding("email", 0, 1, "*")
    with pytest.raises(AttributeError):
        finding.kind = "phone"  # type: ignore[misc]


def test_long_text_offsets_are_exact():
    filler = "Lorem ipsum 2024 dolor sit amet, v1.2.3 consectetur. " * 400
    text = filler + "reach me at jane@example.com or 555-123-4567 " + filler
    found = kinds_and_values(text)
    assert found == [("email", "jane@example.com"), ("phone", "555-123-4567")]


def test_non_ascii_text():
    text = "Müller — Ihre Karte 4242 4242 4242 4242 und Telefon 06 12 34 56 78 ✓ ☎ +49 30 901820"
    assert [kind for kind, _ in kinds_and_values(text)] == ["card", "phone", "phone"]


# ---------------------------------------------------------------------------------------------- text_of_messages


def test_text_of_messages_string_contents():
    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "My email is jane@example.com"},
        {"role": "assistant", "content": None},
    ]
    assert text_of_messages(messages) == "You are helpful.\nMy email is jane@example.com"


def test_text_of_messages_multi_part_contents_ignore_images():
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "text", "text": "Call +44 20 7946 0958 after."},
            ],
        },
        {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]},
    ]
    text = text_of_messages(messages)
    assert text == "What is in this picture?\nCall +44 20 7946 0958 after."
    assert [f.kind for f in detect_personal_data(text)] == ["phone"]


def test_text_of_messages_includes_tool_call_arguments_and_tolerates_junk():
    messages = [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"ssn": "123-45-6789"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        "not a message",
        {"role": "user"},
    ]
    assert text_of_messages(messages) == '{"ssn": "123-45-6789"}\nok'
    assert text_of_messages([]) == ""
