"""The softphone page the edge serves: the agent's own state from login on (agent API with
the agent's SIP credentials), pause / unpause / DND from the page and by feature code, a
relogin that never shows the old client's disconnection, and the microphone on a page that
is not a secure context."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from edgeops.stack import Stack
from tests.browser.conftest import PASSWORDS
from tests.browser.netns import BrowserNet
from tests.integration.api_client import api
from tests.state_kit import drop_bindings

SALES = {"name": "Demo Sales", "allowed_country_codes": ["55"], "default_country": "55",
         "emergency_numbers": ["190", "192", "193"]}
PAUSE_TYPES = [{"code": "1", "name": "Lunch", "blocks_calls": False}, {"code": "2", "name": "Break"}]


@pytest.fixture(scope="module")
def pause_types(browser_edge: Stack) -> Iterator[None]:
    body = {**SALES, "block_calls_during_pause": True, "pause_types": PAUSE_TYPES}
    assert api(browser_edge, "PUT", "/v1/orgs/demo/companies/sales", body)[0] == 200
    yield
    api(browser_edge, "PUT", "/v1/orgs/demo/companies/sales", SALES)


@pytest.fixture
def page(browser: Browser, browser_edge: Stack, browser_net: BrowserNet, browser_state, pause_types) -> Iterator[Page]:
    """The page over wss:// (https through haproxy: a secure context), agent 1001 available."""
    api(browser_edge, "PUT", "/v1/orgs/demo/agents/1001/status", {"status": "available"})
    api(browser_edge, "PUT", "/v1/orgs/demo/agents/1001/dnd", {"dnd": False})
    drop_bindings(browser_state, "demo", "1001")
    context = browser.new_context(ignore_https_errors=True)  # the edge's self-signed dev certificate
    page = context.new_page()
    page.goto(f"https://{browser_net.host_ip}:{browser_edge.settings.wss_port}/")
    yield page
    context.close()


def login(page: Page) -> None:
    page.fill("#user", "1001")
    page.fill("#password", PASSWORDS["1001"])
    page.click("#login")
    expect(page.locator("#reg-state")).to_have_text("registered")


def status(edge: Stack) -> dict:
    return api(edge, "GET", "/v1/orgs/demo/agents/1001/status")[1]  # type: ignore[return-value]


def test_state_and_session_timers_from_login_on(page: Page) -> None:
    expect(page.locator("#mic-state")).to_be_hidden()
    login(page)
    # No call was needed: the page asks the agent API as soon as the phone is registered.
    expect(page.locator("#agent-state")).to_have_text("available")
    expect(page.locator("#pause-state")).to_have_text("available")
    expect(page.locator("#dnd-state")).to_have_text("off")
    expect(page.locator("#session-timer")).to_have_text(re.compile(r"^00:00:\d\d$"))
    first = page.locator("#session-timer").text_content() or ""
    expect(page.locator("#session-timer")).not_to_have_text(first, timeout=3000)  # the timer runs
    expect(page.locator("#pause-type option")).to_have_text(["Lunch", "Break"])


def test_pause_unpause_and_dnd_from_the_page(page: Page, browser_edge: Stack) -> None:
    login(page)
    page.select_option("#pause-type", "Break")
    page.click("#pause")
    expect(page.locator("#pause-state")).to_have_text("paused (Break): new calls are blocked")
    expect(page.locator("#agent-state")).to_have_text("paused")
    assert (status(browser_edge)["status"], status(browser_edge)["pause"]) == ("paused", "Break")
    page.click("#unpause")
    expect(page.locator("#pause-state")).to_have_text("available")
    assert status(browser_edge)["status"] == "available"
    page.click("#dnd")
    expect(page.locator("#dnd-state")).to_have_text("on")
    assert api(browser_edge, "GET", "/v1/orgs/demo/agents/1001")[1]["dnd"] is True
    page.click("#dnd")
    expect(page.locator("#dnd-state")).to_have_text("off")


def test_a_feature_code_dialled_from_the_page_shows_its_answer_and_the_new_state(page: Page,
                                                                                 browser_edge: Stack) -> None:
    login(page)
    page.fill("#number", "*401")
    page.click("#call")
    expect(page.locator("#reason")).to_have_text("603 Paused: Lunch")
    expect(page.locator("#pause-state")).to_have_text("paused (Lunch)")  # Lunch does not block
    assert status(browser_edge)["pause"] == "Lunch"


def test_log_out_then_in_never_shows_the_old_client_s_events(page: Page) -> None:
    login(page)
    page.evaluate("""() => {
        window.regHistory = [];
        new MutationObserver(() => regHistory.push(document.getElementById("reg-state").textContent))
            .observe(document.getElementById("reg-state"), {childList: true, characterData: true, subtree: true});
        document.getElementById("logout").click();
        document.getElementById("login").click();
    }""")
    expect(page.locator("#reg-state")).to_have_text("registered")
    expect(page.locator("#agent-state")).to_have_text("available")
    page.wait_for_timeout(3000)  # the old UA's unregistration and disconnection come late
    history = page.evaluate("regHistory")
    assert "disconnected" not in history and "unregistered" not in history, history
    expect(page.locator("#reg-state")).to_have_text("registered")


def test_a_page_that_is_not_a_secure_context_says_the_microphone_is_unavailable(
    browser: Browser, browser_edge: Stack, browser_net: BrowserNet, browser_state, pause_types
) -> None:
    drop_bindings(browser_state, "demo", "1001")
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"http://{browser_net.host_ip}:{browser_edge.settings.ws_port}/")  # plain http, not localhost
        expect(page.locator("#mic-state")).to_contain_text("Microphone unavailable")
        login(page)
        expect(page.locator("#agent-state")).to_have_text("available")  # the state works without a microphone
        page.fill("#number", "1002")
        page.click("#call")
        expect(page.locator("#call-state")).to_have_text("failed", timeout=1000)  # at once, not "calling…"
        expect(page.locator("#reason")).to_contain_text("not a secure context")
    finally:
        context.close()
