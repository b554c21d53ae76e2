"""The statement page in a real browser: Debian's Chromium driven by Playwright against the live test server.

A member signs in through the login form, reads the seeded March (the same data as test_statements.py), moves
between months with the links and the month picker, downloads the CSV with the mouse and with the keyboard, and
the page logs no console error and does not scroll sideways at 375 px. Screenshots go to test-artifacts/screenshots/.

`make test` installs Chromium when it is missing; only where it is missing and could not be installed are these
tests skipped, and never on CI.
"""

import csv
import io
from pathlib import Path

import pytest

from tests.billing.test_statements import GPT, HAIKU, make_workspace, seed_march
from tests.browser import PASSWORD, assert_accessible, screenshot
from tests.core.factories import UserFactory
from tests.workspaces.factories import MembershipFactory


@pytest.fixture
def workspace(transactional_db):
    workspace = make_workspace()
    seed_march(workspace)
    MembershipFactory(workspace=workspace, user=UserFactory(username="ada"))
    return workspace


def _figure(page, name: str) -> str:
    return page.locator(f'[data-figure="{name}"]').inner_text().strip()


def _downloaded_rows(download) -> list[list[str]]:
    return list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))


def test_a_member_reads_moves_between_months_and_downloads_the_statement(live_server, page, workspace):
    page.goto(f"{live_server.url}/billing/statements/2026-03/")
    assert page.url == f"{live_server.url}/accounts/login/?next=/billing/statements/2026-03/"
    screenshot(page, "login")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url("**/billing/statements/2026-03/")
    assert page.get_by_role("heading", level=1).inner_text() == "Statement for March 2026"
    assert "Signed in as ada" in page.locator(".site-header").inner_text()
    figures = {
        name: _figure(page, name)
        for name in ("requests", "platform-tokens", "byok-tokens", "cost", "platform-cost", "byok-cost")
    }
    assert figures == {
        "requests": "4",
        "platform-tokens": "5,510",
        "byok-tokens": "300",
        "cost": "$0.0118",
        "platform-cost": "$0.0115",
        "byok-cost": "$0.0003",
    }
    assert _figure(page, "unknown-price").startswith("1 call of unknown price")
    quota = (_figure(page, "plan"), _figure(page, "quota-used"), _figure(page, "quota-percent"))
    assert quota == ("Pro", "5,510", "0.55%")
    assert (_figure(page, "overage-tokens"), _figure(page, "overage-amount")) == ("10,000", "$0.025")
    assert (_figure(page, "opening-balance"), _figure(page, "closing-balance")) == ("$90.00", "$123.9882")
    assert _figure(page, "out-transfer_out") == "−$20.00"
    model_rows = page.locator('tr[data-row="model"] th').all_inner_texts()
    assert [text.strip() for text in model_rows] == [HAIKU, GPT]
    agent_rows = page.locator('tr[data-row="agent"] th').all_inner_texts()
    assert [text.strip() for text in agent_rows] == ["Support Bot (support)", "No agent", "Coder (coder)"]
    screenshot(page, "statement-desktop")

    assert_accessible(page)

    page.get_by_role("link", name="← Previous month").click()
    page.wait_for_url("**/billing/statements/2026-02/")
    assert page.get_by_role("heading", level=1).inner_text() == "Statement for February 2026"
    assert (_figure(page, "requests"), _figure(page, "cost")) == ("1", "$5.00")
    page.get_by_role("link", name="Next month →").click()
    page.wait_for_url("**/billing/statements/2026-03/")

    page.get_by_label("Month", exact=True).fill("2026-04")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/billing/statements/2026-04/")
    assert (_figure(page, "cost"), _figure(page, "opening-balance")) == ("$7.00", "$123.9882")
    page.go_back()
    page.wait_for_url("**/billing/statements/2026-03/")

    with page.expect_download() as clicked:
        page.get_by_role("link", name="Download CSV").click()
    download = clicked.value
    assert download.suggested_filename == "switchyard-statement-acme-2026-03.csv"
    rows = _downloaded_rows(download)
    assert ["Summary", "Cost (USD)", "0.0115", "0.0003", "0.0118"] in rows
    assert ["Credits", "Closing balance", "123.9882"] in rows

    # The same with the keyboard only: the skip link comes first, the download link is reachable and opens on Enter.
    page.reload()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Download CSV":
            break
    else:
        pytest.fail("Tab never reached the Download CSV link")
    with page.expect_download() as pressed:
        page.keyboard.press("Enter")
    assert _downloaded_rows(pressed.value) == rows

    assert page.problems == []


def test_the_page_fits_a_narrow_screen(live_server, page, workspace):
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{live_server.url}/accounts/login/?next=/billing/statements/2026-03/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.wait_for_url("**/billing/statements/2026-03/")

    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    # The wide tables scroll inside their own box instead, and the box takes the keyboard focus to do so.
    wide = page.get_by_role("region", name="Usage by model, most expensive first")
    assert wide.evaluate("box => box.scrollWidth > box.clientWidth")
    wide.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("box => box.scrollLeft > 0", arg=wide.element_handle(), timeout=2000)
    screenshot(page, "statement-narrow")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")
    assert page.problems == []
