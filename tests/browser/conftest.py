"""Browser tests: Playwright for Python driving Debian's Chromium (never a downloaded one)."""

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
BUILD = Path(__file__).resolve().parents[2] / "build"
SCREENSHOTS = BUILD / "screenshots"  # `make test` prints this folder at the end


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"BROWSER TESTS SKIPPED: no Chromium at {CHROMIUM}. Install it with "
            "`apt-get install -y chromium` (make test does this where it can)."
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls
    # (setting up data, checking results) are plain synchronous code between its calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]  # never leak into later tests' processes


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    errors = watch_console(context)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
    # No page the test visited had a console error or a Content-Security-Policy violation.
    assert errors == []


@pytest.fixture
def screenshot(page):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name):
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return take


# Chromium logs a refused inline script or style as a console error; the page's own
# `securitypolicyviolation` event is logged the same way, so one listener catches both.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`
    + ` at ${e.sourceFile}:${e.lineNumber}`);
});
"""


def watch_console(context) -> list[str]:
    """Every console error and Content-Security-Policy violation on the context's pages
    from now on (the list fills as they happen; a test asserts it stays empty)."""
    errors: list[str] = []
    context.add_init_script(REPORT_CSP_VIOLATIONS)

    def listen(page):
        page.on(
            "console",
            lambda msg: (
                errors.append(f"{page.url}: {msg.text} ({msg.location.get('url')})")
                if msg.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))

    for page in context.pages:
        listen(page)
    context.on("page", listen)
    return errors


def sign_in(page, live_server, username, password="correct horse battery"):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    # The sign-in form's own button (a signed-in page also has a Sign out submit button).
    page.click("form:has(#id_username) button[type=submit]")


@pytest.fixture(autouse=True)
def _reference_data(reference_data):
    """Live-server tests run on a flushed, transactional database."""


# --- Accessibility: axe-core, installed by `npm ci` (package.json) and injected per page -----

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0, 2.1 and 2.2 at levels A and AA.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def axe_violations(page, impacts=("serious", "critical")) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one line each."""
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `npm ci` (make test does).")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Through DevTools, not as a <script> element: the page's Content-Security-Policy
        # (rightly) refuses an inline script.
        page.evaluate(AXE.read_text())
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n["target"]) for n in v["nodes"][:5])
        for v in result["violations"]
        if v["impact"] in impacts
    ]


def open_menu(page) -> None:
    """Open the collapsed navigation on a phone and wait until Bootstrap's collapse has
    finished (`.show`, no longer `.collapsing`): a click on a link that is still sliding in
    can land beside it on a busy machine."""
    page.click(".navbar-toggler")
    page.wait_for_selector("#nav.show:not(.collapsing)")
