"""Browser fixtures: Debian's Chromium in a network namespace, driven by Playwright, against
an edge that listens on the namespace's veth peer. One browser launch per test module; the
namespace and that edge live per module too, so their ports are free for later tests."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from edgeops.stack import Stack
from kemi_app.state import EdgeState, connect
from tests.browser.netns import BrowserNet
from tests.conftest import edge_environment, pick_port_base
from tests.integration.rtp import no_media_left, wait_for
from tests.sipp import Sipp
from tests.state_kit import drop_bindings

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).parent / "harness"
BUNDLES = {"jssip": ROOT / "web" / "dist" / "jssip.min.js", "sipjs": ROOT / "web" / "dist" / "sipjs.min.js"}
PAGE_ORIGIN = "http://127.0.0.1:8000"  # served by Playwright itself: a secure context, no server
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream", "--autoplay-policy=no-user-gesture-required",
    # The test page (127.0.0.1) reaching the edge (10.250.N.1) is a "local network access".
    "--disable-features=LocalNetworkAccessChecks",
]
PASSWORDS = {"1001": "demo1001", "1002": "demo1002"}


@pytest.fixture(scope="module")
def browser_net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserNet]:
    net = BrowserNet.create(tmp_path_factory.mktemp("netns"))
    yield net
    net.delete()


@pytest.fixture(scope="module")
def browser_edge(browser_net: BrowserNet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """An edge whose SIP, WebSocket and media addresses are the veth peer of the browser.
    Browsers get Opus by policy, so browser <-> RTP calls are transcoded here."""
    env = edge_environment(
        pick_port_base(), tmp_path_factory.mktemp("browser-edge"), EDGE_SIP_ADDR=browser_net.host_ip,
        EDGE_RTP_ADDR=browser_net.host_ip, EDGE_MEDIA_FORCE_OPUS="1",
    )
    with Stack(env, log_to_files=True).running() as stack:
        yield stack


@pytest.fixture(scope="module")
def browser_state(browser_edge: Stack) -> EdgeState:
    return EdgeState(connect(browser_edge.settings.effective_redis_url))


@pytest.fixture(scope="module")
def peer(browser_edge: Stack, browser_net: BrowserNet, tmp_path_factory: pytest.TempPathFactory) -> Sipp:
    """sipp on the host side of the veth: the customers and the RTP-echo phones."""
    s = browser_edge.settings
    return Sipp(f"{browser_net.host_ip}:{s.sip_port}", tmp_path_factory.mktemp("browser-sipp"),
                port_base=s.sip_port + 20, local_ip=browser_net.host_ip)


@pytest.fixture(scope="module")
def browser(browser_net: BrowserNet) -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(browser_net.chromium), args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture(autouse=True)
def no_media_leaks(browser_edge: Stack) -> Iterator[None]:
    with no_media_left(browser_edge.settings.rtpengine_ng, after=15):
        yield


class AgentPage:
    """One browser agent (a page with JsSIP or SIP.js) and the calls it makes and takes."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def run(self, script: str, arg: object = None, timeout_ms: int = 15000) -> object:
        """Awaits window.agent's promise, with a deadline so a stuck call fails the test."""
        return self.page.evaluate(
            """([script, arg, ms]) => Promise.race([
                 (new Function("arg", "return " + script))(arg),
                 new Promise((_, no) => setTimeout(() => no(new Error("timed out: " + script)), ms))])""",
            [script, arg, timeout_ms],
        )

    def stats(self) -> dict[str, int]:
        return self.page.evaluate("audioStats()")  # type: ignore[no-any-return]

    def wait_media(self, packets: int = 50, timeout: float = 10) -> dict[str, int]:
        wait_for(lambda: min(self.stats()["sent"], self.stats()["received"]) >= packets, timeout)
        return self.stats()


def _page_html(client: str) -> str:
    return (
        "<!doctype html><meta charset=utf-8><title>agent</title><audio id=remote autoplay></audio>"
        f'<script src="/client.js"></script><script src="/agent-{client}.js"></script>'
        '<script src="/common.js"></script>'
    )


@pytest.fixture
def open_agent(
    browser: Browser, browser_edge: Stack, browser_net: BrowserNet, browser_state: EdgeState
) -> Iterator[Callable[..., AgentPage]]:
    contexts = []

    def open_(client: str, user: str) -> AgentPage:
        drop_bindings(browser_state, "demo", user)  # calls to `user` reach this page only
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()

        def serve(route: Route) -> None:
            path = route.request.url.removeprefix(PAGE_ORIGIN)
            files = {"/client.js": BUNDLES[client], f"/agent-{client}.js": HARNESS / f"agent-{client}.js",
                     "/common.js": HARNESS / "common.js"}
            if path == "/":
                route.fulfill(status=200, content_type="text/html", body=_page_html(client))
            elif path in files:
                route.fulfill(status=200, content_type="text/javascript", body=files[path].read_text())
            else:
                route.fulfill(status=404, body="")

        page.route(f"{PAGE_ORIGIN}/**", serve)
        page.goto(f"{PAGE_ORIGIN}/")
        agent = AgentPage(page)
        ws = f"ws://{browser_net.host_ip}:{browser_edge.settings.ws_port}"
        agent.run("agent.start(arg)", {"ws": ws, "user": user, "password": PASSWORDS[user], "domain": "demo.test"})
        return agent

    yield open_
    for context in contexts:
        with contextlib.suppress(PlaywrightError):  # a test may have closed it already
            context.close()
