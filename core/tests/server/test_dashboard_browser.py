"""The dashboard in headless Chromium (Playwright driving the system's ``/usr/bin/chromium``):
a 300-item batch run by another process, followed live, paused, resumed by the server,
finished; its failed items retried from the page; a change without the token refused."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_helpers import write_agent, write_items

from framework.storage import open_storage

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags a closed network refuses Chromium's connections.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ITEMS = 300

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Scene:
    """A storage, an agent, a batch run by a child process, and ``agentgraph serve``."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.url = f"sqlite://{tmp_path / 'state.db'}"
        self.agent = write_agent(tmp_path / "agent")
        self.items = write_items(tmp_path / "items.jsonl", ITEMS)
        self.marker = tmp_path / "fail-now"
        self.marker.touch()
        self.env = {
            **os.environ,
            "ITEM_LOG": str(tmp_path / "items.log"),
            "FAIL_MARKER": str(self.marker),
            "ITEM_DELAY": "0.08",
            "AGENTGRAPH_HOME": str(tmp_path / "home"),
        }
        self.env.pop("AGENTGRAPH_API_TOKEN", None)

    def agentgraph(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "framework.cli.main", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def start_batch(self) -> subprocess.Popen[str]:
        return self.agentgraph(
            "batch", str(self.agent), "--items", str(self.items), "--run-id", "docs",
            "--id-key", "id", "--max-attempts", "1", "--concurrency", "4", "--storage", self.url,
        )  # fmt: skip

    def attempts(self) -> dict[str, int]:
        with open_storage(self.url) as storage:
            return {item.item_id: item.attempts for item in storage.list_items("docs")}


@pytest.fixture
def scene(tmp_path: Path) -> Scene:
    return Scene(tmp_path)


@pytest.fixture
def server(scene: Scene) -> Iterator[tuple[str, str, str]]:
    """``agentgraph serve`` given the agent: its base URL, login link and token."""
    port = _free_port()
    process = scene.agentgraph(
        "serve", "--storage", scene.url, "--port", str(port), "--agent", str(scene.agent),
        "--interval", "0.1",
    )  # fmt: skip
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(3)]
    try:
        login = re.search(r"at: (\S+/login\?code=\S+)", lines[1])
        token = lines[2].rsplit(" ", 1)[-1].strip()
        assert lines[0].startswith(f"serving {scene.url} at http://127.0.0.1:{port}/"), lines
        assert login is not None and token, lines
        yield f"http://127.0.0.1:{port}", login.group(1), token
    finally:
        process.terminate()
        process.wait(timeout=20)


def _number(page: playwright_api.Page, fact: str) -> int:
    return int(page.locator(f'dd[data-fact="{fact}"]').inner_text())


def test_the_dashboard_follows_pauses_resumes_and_retries_a_batch_of_another_process(
    scene: Scene, server: tuple[str, str, str], tmp_path: Path
) -> None:
    base, login, token = server
    worker = scene.start_batch()
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), args=FLAGS, headless=True
        )
        page = browser.new_page()
        expect = playwright_api.expect
        try:
            page.goto(login)
            expect(page.get_by_role("link", name="docs", exact=True)).to_be_visible(timeout=15_000)
            page.get_by_role("link", name="docs", exact=True).click()
            status = page.locator("#status")
            expect(status).to_have_text("running", timeout=15_000)

            # The progress moves: the completed count grows while the page is open.
            expect(page.locator('dd[data-fact="completed"]')).not_to_have_text("0")
            first = _number(page, "completed")
            shown = "document.querySelector('dd[data-fact=\"completed\"]').textContent"
            page.wait_for_function(f"Number({shown}) > {first}")

            page.get_by_role("button", name="Pause").focus()
            page.keyboard.press("Enter")
            expect(status).to_have_text("paused", timeout=15_000)
            assert worker.wait(timeout=15) == 0
            counts = {f: _number(page, f) for f in ("completed", "failed", "pending", "running")}
            assert counts["running"] == 0 and 0 < counts["completed"] < ITEMS
            assert sum(counts.values()) == _number(page, "total") == ITEMS

            page.get_by_role("button", name="Resume").click()
            expect(page.locator("#message")).to_have_text(
                "run docs resumes: running in this server"
            )
            expect(status).to_have_text("completed", timeout=30_000)
            assert _number(page, "completed") == ITEMS - 6 and _number(page, "failed") == 6
            failed_rows = page.locator("#failed tr")
            expect(failed_rows).to_have_count(6)
            expect(failed_rows.first).to_contain_text("n7")
            expect(failed_rows.first).to_contain_text("ValueError: 7 is unlucky")
            page.screenshot(path=str(tmp_path / "run-page.png"))
            before = scene.attempts()

            scene.marker.unlink()
            page.get_by_role("button", name="Retry failed").click()
            expect(page.locator('dd[data-fact="failed"]')).to_have_text("0", timeout=30_000)
            expect(status).to_have_text("completed")
            expect(page.locator('dd[data-fact="completed"]')).to_have_text(str(ITEMS))
            after = scene.attempts()
            retried = {item for item in after if after[item] != before[item]}
            assert retried == {f"n{n}" for n in range(7, ITEMS, 50)}
            assert all(after[item] == before[item] + 1 for item in retried)

            refused = page.request.post(f"{base}/api/runs/docs/cancel")
            let_in = page.request.post(
                f"{base}/api/runs/docs/cancel", headers={"Authorization": f"Bearer {token}"}
            )
            assert refused.status == 403 and "X-CSRF-Token" in refused.json()["error"]
            assert let_in.status == 409  # a completed batch has nothing to cancel
        finally:
            browser.close()
    with pytest.raises(urllib.error.HTTPError) as bare:  # neither cookie nor token
        urllib.request.urlopen(urllib.request.Request(f"{base}/api/runs/docs/pause", b"{}"))
    assert bare.value.code == 401
    assert (tmp_path / "run-page.png").stat().st_size > 10_000
