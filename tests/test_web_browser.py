"""The dashboard in a real headless Chromium against a real Uvicorn server: the overview, signing in, approving
with a note, rejecting (the note is required), an out-of-range edit showing its message, a run's page with its
plots and interactive chart, comparing two runs, sorting the leaderboard. Screenshots of the overview and an
idea go to $GAUSSIAN_SCREENSHOTS when set (that is how the README's pictures were taken)."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from experiments.home import set_home
from tests.web_fixtures import RUN_A, RUN_B, TOKEN, LiveServer, build_home, copy_home


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    root = tmp_path_factory.mktemp("webb") / "template"
    ids = build_home(root, analyze=True)
    set_home(None)
    yield root, ids


@pytest.fixture()
def site(template: tuple[Path, dict[str, str]], tmp_path: Path, browser: Any) -> Iterator[tuple[Any, str, dict]]:
    root, ids = template
    home = copy_home(root, tmp_path / "home")
    server = LiveServer(home)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page, server.url, ids
    finally:
        context.close()
        server.close()
        set_home(None)


def _shot(page: Any, name: str) -> None:
    folder = os.environ.get("GAUSSIAN_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=False)


def _sign_in(page: Any, url: str, next_path: str) -> None:
    page.goto(f"{url}/login?next={next_path}")
    page.fill("input[name=token]", TOKEN)
    page.click("form.stack button")
    page.wait_for_url(f"{url}{next_path}")


def test_overview_opens(site: tuple[Any, str, dict]) -> None:
    page, url, _ = site
    page.goto(url + "/")
    assert page.inner_text("h1").startswith("Overview")
    assert "proposed 3" in page.inner_text("#queue-counts")
    assert "nothing promoted yet" in page.inner_text("#promoted")
    assert page.locator('meta[http-equiv="refresh"]').count() == 1
    _shot(page, "overview.png")


def test_approve_with_a_note_and_reject_one(site: tuple[Any, str, dict]) -> None:
    page, url, ids = site
    first, second = ids["shorter momentum lookback"], ids["wider stop loss"]
    page.goto(f"{url}/ideas/{first}")
    assert "Sign in" in page.inner_text(".review")  # reading is open, acting needs the token
    _sign_in(page, url, f"/ideas/{first}")
    assert "entry.momentum.lookback_bars" in page.inner_text("#diff")
    _shot(page, "idea.png")
    page.fill("#approve-form input[name=note]", "the analysis supports it")
    page.click("#approve-form button")
    page.wait_for_selector("#flash")
    assert page.inner_text("#idea-status") == "approved"
    assert "the analysis supports it" in page.inner_text("#history")

    page.goto(f"{url}/ideas/{second}")
    page.click("#reject-form button")  # no note: refused with the CLI's message
    assert "needs a note saying why" in page.inner_text("#action-error")
    assert page.inner_text("#idea-status") == "proposed"
    page.fill("#reject-form input[name=note]", "stops are not the problem")
    page.click("#reject-form button")
    page.wait_for_selector("#flash")
    assert page.inner_text("#idea-status") == "rejected"
    page.goto(f"{url}/ideas?status=rejected")
    assert page.locator("#ideas tbody tr").count() == 1


def test_out_of_range_edit_shows_the_message(site: tuple[Any, str, dict]) -> None:
    page, url, ids = site
    ref = ids["longer momentum lookback"]
    _sign_in(page, url, f"/ideas/{ref}")
    page.fill("#edit-form input[name=field]", "entry.momentum.lookback_bars")
    page.fill("#edit-form input[name=value]", "1")
    page.click("#edit-form button")
    message = page.inner_text("#action-error")
    assert "entry.momentum.lookback_bars" in message and "greater than or equal to 2" in message
    assert "40" in page.inner_text("#diff")  # unchanged
    page.fill("#priority-form input[name=priority]", "5")
    page.click("#priority-form button")
    page.wait_for_selector("#flash")
    assert page.inner_text("#idea-priority") == "5"


def test_a_run_shows_its_plots_and_chart(site: tuple[Any, str, dict]) -> None:
    page, url, _ = site
    page.goto(f"{url}/runs/{RUN_A}")
    page.wait_for_selector("#equity-chart[data-ready='1']")
    assert page.locator("#equity-chart .main-svg").count() >= 1
    imgs = page.locator(".plots img")
    assert imgs.count() >= 2
    assert page.evaluate("Array.from(document.querySelectorAll('.plots img')).every(i => i.naturalWidth > 100)")
    assert page.locator("#analysis img").count() >= 1
    assert page.evaluate("Array.from(document.querySelectorAll('#analysis img')).every(i => i.naturalWidth > 100)")
    assert "momentum-a" in page.inner_text("#spec")


def test_compare_two_runs_from_the_leaderboard(site: tuple[Any, str, dict]) -> None:
    page, url, _ = site
    page.goto(f"{url}/runs")
    first = page.inner_text("#leaderboard tbody tr:first-child td:nth-child(3)")
    page.click("#leaderboard thead th:nth-child(9)")  # Sharpe, ascending
    page.click("#leaderboard thead th:nth-child(9)")  # descending: the leaderboard's own order
    assert page.inner_text("#leaderboard tbody tr:first-child td:nth-child(3)") == first
    page.check(f"input[value='{RUN_A}']")
    page.check(f"input[value='{RUN_B}']")
    page.click("#compare-form button")
    page.wait_for_selector("#compare-chart[data-ready='2']")
    header = page.inner_text("#compare-table thead")
    assert RUN_A in header and RUN_B in header
    assert page.locator("#compare-chart .scatterlayer .trace, #compare-chart .gl-container").count() >= 1
