"""The browser tests' fixtures: one `oms up` and one Chromium per module, a fresh browser context per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, StorageState, async_playwright, expect

from tests.browser.console_stack import DEMO_OPERATOR, NOTE_WHEN_LISTENING, VIEWPORT, ConsoleStack, launch, log_in
from tests.browser.find_chromium import Chromium, ChromiumMissing, find_chromium

# Playwright's waits (expect, clicks, page loads) give up after this unless a test says otherwise: ample for a page
# of a console on a loaded machine, and still a clear failure rather than a hung suite.
DEFAULT_TIMEOUT_MS = 15_000
expect.set_options(timeout=DEFAULT_TIMEOUT_MS)


@pytest.fixture(scope="session")
def chromium() -> Chromium:
    """The Chromium `make browser` found or installed; the browser tests fail, naming what to install, without it."""
    try:
        return find_chromium()
    except ChromiumMissing as missing:
        problem = str(missing)
    pytest.fail(f"{problem} (or run `make browser`, which installs one)", pytrace=False)


@pytest.fixture(scope="package")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConsoleStack]:
    """`oms up` for the browser tests: free ports, a temporary var dir, demo data and the demo operator."""
    async with ConsoleStack.running(tmp_path_factory.mktemp("oms-up")) as running:
        yield running


@pytest.fixture(scope="package")
async def browser(chromium: Chromium) -> AsyncIterator[Browser]:
    """One headless Chromium for the browser tests."""
    async with async_playwright() as playwright:
        launched = await launch(playwright, chromium)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def context(browser: Browser, stack: ConsoleStack) -> AsyncIterator[BrowserContext]:
    """A browser context of its own (no cookies from other tests) pointed at the stack's console."""
    fresh = await open_context(browser, stack)
    try:
        yield fresh
    finally:
        await fresh.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    """A blank tab, logged in as nobody."""
    return await context.new_page()


@pytest.fixture(scope="package")
async def operator_login(browser: Browser, stack: ConsoleStack) -> StorageState:
    """The demo operator's session cookie, from logging in once through the form (a login costs a password hash)."""
    first = await open_context(browser, stack)
    try:
        await log_in(await first.new_page(), DEMO_OPERATOR, stack.password)
        return await first.storage_state()
    finally:
        await first.close()


@pytest.fixture
async def operator_page(browser: Browser, stack: ConsoleStack, operator_login: StorageState) -> AsyncIterator[Page]:
    """A tab of a fresh context that is logged in as the demo operator."""
    logged_in = await open_context(browser, stack, operator_login)
    try:
        yield await logged_in.new_page()
    finally:
        await logged_in.close()


async def open_context(browser: Browser, stack: ConsoleStack, login: StorageState | None = None) -> BrowserContext:
    """A new browser context on the stack's console that notes when its pages listen to the live stream."""
    fresh = await browser.new_context(
        base_url=stack.url,
        viewport=VIEWPORT,  # type: ignore[arg-type]
        storage_state=login,
    )
    fresh.set_default_timeout(DEFAULT_TIMEOUT_MS)
    await fresh.add_init_script(NOTE_WHEN_LISTENING)
    return fresh


@pytest.fixture
def orders_folder(tmp_path: Path) -> Path:
    """Where a test writes the order files it places."""
    return tmp_path
