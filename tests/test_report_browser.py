"""The report in a real browser: headless Chromium (Debian ``chromium``) driven over the DevTools protocol.

Loads ``multiqc_report.html`` of a complete run, fails on any JavaScript console error, checks that every
section and subsection is there and that every plot, image and table rendered, and saves a full-page
screenshot under the test's temporary folder. ``make test`` installs ``chromium`` when it is missing.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from _report_run import write_run

from crossomics.report import run_report
from crossomics.report.sections import registry

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
)
WIDTH, HEIGHT = 1400, 1000
TIMEOUT = 60.0

#: per visible plot: id, rendered (plotly ran), size and how many data marks it drew; images and tables: size
STATUS_JS = """(() => {
  const box = el => {
    const r = el.getBoundingClientRect();
    return [Math.round(r.width), Math.round(r.height)];
  };
  const visible = sel => [...document.querySelectorAll(sel)].filter(el => el.offsetParent !== null);
  const marks = '.trace path, .trace .point, .hm image, .heatmaplayer image';
  const plots = visible('.mqc-section .hc-plot').map(p => ({
    id: p.id, size: box(p), svgs: p.querySelectorAll('svg.main-svg').length,
    rendered: p.classList.contains('js-plotly-plot') && !p.classList.contains('not_rendered'),
    marks: p.querySelectorAll(marks).length}));
  const images = [...document.querySelectorAll('.mqc-custom-content-image img')].map(i => ({
    alt: i.alt, complete: i.complete, natural: [i.naturalWidth, i.naturalHeight], size: box(i)}));
  const tables = visible('.mqc-section table.mqc_table').map(t => ({
    id: t.id, rows: t.querySelectorAll('tbody tr').length, size: box(t)}));
  const sections = Object.fromEntries(IDS.map(id => [id, !!document.getElementById(id)]));
  return JSON.stringify({ready: document.readyState, plots, images, tables, sections});
})()"""


class Chromium:
    """A headless Chromium with one page, driven over the Chrome DevTools Protocol (websocket-client)."""

    def __init__(self, profile: Path) -> None:
        import websocket

        profile.mkdir(parents=True, exist_ok=True)
        (profile / "DevToolsActivePort").unlink(missing_ok=True)
        # a session of its own: Debian's /usr/bin/chromium is a wrapper script, the browser is its child
        self.proc = subprocess.Popen(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + TIMEOUT
        while not (port_file.is_file() and len(port_file.read_text().split()) >= 2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                pytest.fail(f"chromium did not start: {self.proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            page = next(t for t in json.load(resp) if t["type"] == "page")
        self.ws = websocket.create_connection(
            page["webSocketDebuggerUrl"], suppress_origin=True, timeout=TIMEOUT
        )
        self.events: list[dict[str, Any]] = []
        self._id = 0
        for domain in ("Runtime", "Log", "Page"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command; keep the events that arrive before its answer."""
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    err = f"{method}: {msg['error']}"
                    raise RuntimeError(err)
                return msg["result"]
            self.events.append(msg)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def open(self, url: str) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=HEIGHT,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + TIMEOUT
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            assert time.monotonic() < deadline, f"{url} did not load in {TIMEOUT:.0f} s"
            self.events.append(json.loads(self.ws.recv()))

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries (failed loads included) so far."""
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(
                    "console: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"])
                )
            elif e.get("method") == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
            elif e.get("method") == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(f"log: {p['entry']['text']} {p['entry'].get('url', '')}")
        return out

    def full_page_png(self, path: Path) -> tuple[int, int]:
        """Resize the viewport to the whole page, capture it as PNG; returns (width, height)."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        height = int(size["height"]) + 1
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        time.sleep(1.0)  # the layout settles (the side bar's transition) before the capture
        shot = self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))
        return WIDTH, height

    def close(self) -> None:
        """Ask the browser to quit, then end whatever is left of the process group this test started."""
        if getattr(self, "ws", None) is not None:
            try:
                self.call("Browser.close")
            except Exception:  # noqa: BLE001 - the connection closes as the browser quits
                pass
            self.ws.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)  # the group of the browser started above, and only it
            except ProcessLookupError:
                break
            time.sleep(0.5)
        self.proc.wait()


def wait_for_plots(browser: Chromium, ids: list[str]) -> dict[str, Any]:
    """Poll the page until every visible plot has rendered (or the time is up); returns the last status."""
    js = STATUS_JS.replace("IDS", json.dumps(ids))
    deadline = time.monotonic() + TIMEOUT
    while True:
        status = json.loads(browser.evaluate(js))
        done = status["ready"] == "complete" and all(p["rendered"] and p["marks"] for p in status["plots"])
        if done or time.monotonic() > deadline:
            return status
        time.sleep(0.25)


def test_report_renders_in_chromium(tmp_path) -> None:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} not found: install Debian's chromium (`apt-get install chromium`; make test does)"
        )
    layout, sheet = write_run(tmp_path / "run")
    report = run_report(layout, samplesheet=sheet)
    anchors = [s.id for s, _, _ in registry()]
    anchors += sorted(p.name[: -len("_mqc.json")] for p in (report.parent / "mqc_inputs").glob("*_mqc.json"))

    browser = Chromium(tmp_path / "chromium-profile")
    try:
        browser.open(report.as_uri())
        status = wait_for_plots(browser, anchors)
        browser.evaluate("1")  # collects the console events logged while the plots rendered
        errors = browser.errors()
        shot = tmp_path / "multiqc_report.png"
        width, height = browser.full_page_png(shot)
    finally:
        browser.close()

    assert errors == [], "JavaScript errors in the report:\n" + "\n".join(errors)
    missing = [a for a, present in status["sections"].items() if not present]
    assert missing == [], f"sections missing from the page: {missing}"
    plot_ids = {p["id"] for p in status["plots"]}
    for c in (
        "crossomics_qc_cells",
        "crossomics_qc_n_counts",
        "crossomics_training_losses",
        "crossomics_integration_label_transfer",
        "crossomics_simulation_mean_var",
        "crossomics_perturbation_ranking",
    ):
        assert f"{c}_plot" in plot_ids, f"{c}: no plot on the page"
    for p in status["plots"]:
        assert p["rendered"] and p["svgs"] and p["marks"] > 0 and min(p["size"]) > 100, (
            f"plot did not render: {p}"
        )
    assert len(status["images"]) == 2
    for i in status["images"]:
        assert i["complete"] and min(i["natural"]) > 100 and min(i["size"]) > 100, f"image not shown: {i}"
    assert len(status["tables"]) >= 10
    for t in status["tables"]:
        assert t["rows"] > 0 and min(t["size"]) > 0, f"empty table: {t}"

    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (width, height) and height > 5 * 1000
        colours = im.convert("L").resize((64, 512)).getextrema()
        assert colours[1] - colours[0] > 100, "the screenshot is blank"


def main(report: str, png: str, anchor: str = "", height: str = str(HEIGHT)) -> None:
    """Screenshot of a report: ``python tests/test_report_browser.py REPORT PNG [ANCHOR [HEIGHT]]``.

    Without ``ANCHOR`` the whole page; with it, a window ``HEIGHT`` pixels tall scrolled to that section.
    """
    import tempfile

    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        browser = Chromium(Path(profile))
        try:
            browser.open(Path(report).resolve().as_uri())
            wait_for_plots(browser, [])
            browser.evaluate("document.getElementById('mqc_welcome')?.remove()")
            if anchor:
                browser.call(
                    "Emulation.setDeviceMetricsOverride",
                    width=WIDTH,
                    height=int(height),
                    deviceScaleFactor=1,
                    mobile=False,
                )
                browser.evaluate(f"document.getElementById({json.dumps(anchor)}).scrollIntoView()")
                time.sleep(1.0)
                shot = browser.call("Page.captureScreenshot", format="png")
                Path(png).write_bytes(base64.b64decode(shot["data"]))
            else:
                browser.full_page_png(Path(png))
        finally:
            browser.close()


if __name__ == "__main__":
    import sys

    main(*sys.argv[1:])
