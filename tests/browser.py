"""What the browser tests of the marketplace pages share (the `chromium` fixture is in tests/conftest.py).

- `browser_page(chromium)`: a fresh tab whose `page.problems` collects console errors, page errors and failed
  requests, so every test can end with `assert page.problems == []`.
- `sign_in(page, live_server, user)`: signs the tab in without the login form (a Django session cookie); the
  verification-path test uses the form itself.
- `assert_accessible(page)`: the checks every page passes: a language, one h1, a label for every field, a name for
  every button and link, a caption or name for every table, a text alternative for every chart.
- `assert_fits(page, width=375)`: the page reflows to a narrow screen without scrolling sideways.
- `screenshot(page, name)`: saves under test-artifacts/screenshots/ (the folder the README names).
"""

from pathlib import Path

from django.conf import settings
from django.test import Client

SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"
PASSWORD = "correct-horse-battery"  # tests.core.factories.UserFactory's


def browser_page(chromium, *, width: int = 1280, height: int = 900):
    context = chromium.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    page = context.new_page()
    page.problems = []
    page.on("console", lambda message: message.type == "error" and page.problems.append(message.text))
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.on("requestfailed", lambda request: page.problems.append(f"request failed: {request.url}"))
    return page


def sign_in(page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


# Each check returns the offending elements' outer HTML (trimmed), so a failure says what to fix.
_UNLABELLED_FIELDS = """() => [...document.querySelectorAll(
    'input:not([type=hidden]):not([type=submit]):not([type=button]), select, textarea')]
  .filter(el => el.labels.length === 0 && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML.slice(0, 160))"""
_NAMELESS_CONTROLS = """() => [...document.querySelectorAll('a[href], button, [role=button]')]
  .filter(el => !(el.innerText || '').trim() && !el.getAttribute('aria-label') && !el.getAttribute('title')
    && !el.getAttribute('aria-labelledby') && !(el.value || '').trim())
  .map(el => el.outerHTML.slice(0, 160))"""
_NAMELESS_TABLES = """() => [...document.querySelectorAll('table')]
  .filter(t => !t.querySelector('caption') && !t.getAttribute('aria-label') && !t.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML.slice(0, 160))"""
_CHARTS_WITHOUT_TEXT = """() => [...document.querySelectorAll('svg, img, canvas')]
  .filter(el => el.closest('[aria-hidden=true]') === null)
  .filter(el => el.tagName.toLowerCase() === 'img' ? el.getAttribute('alt') === null
    : !(el.getAttribute('role') === 'img' && (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby'))))
  .map(el => el.outerHTML.slice(0, 160))"""


def assert_accessible(page) -> None:
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.locator("h1").count() == 1, "a page has exactly one h1"
    assert page.evaluate(_UNLABELLED_FIELDS) == [], "fields without a label"
    assert page.evaluate(_NAMELESS_CONTROLS) == [], "links or buttons without an accessible name"
    assert page.evaluate(_NAMELESS_TABLES) == [], "tables without a caption"
    assert page.evaluate(_CHARTS_WITHOUT_TEXT) == [], "images or charts without a text alternative"


def assert_fits(page, width: int = 375) -> None:
    page.set_viewport_size({"width": width, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "the page scrolls sideways"


def tab_to(page, name: str, limit: int = 80) -> None:
    """Press Tab until the focused element's text (or label) is `name`; fails if the keyboard never reaches it."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "(() => { const el = document.activeElement; return (el.getAttribute('aria-label') || el.innerText"
            " || el.value || '').trim(); })()"
        )
        if focused == name:
            return
    raise AssertionError(f"Tab never reached {name!r}")
