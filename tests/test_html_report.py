"""``fetchbench report``: one self-contained, escaped HTML page that a browser renders."""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fetchbench.cli import main
from fetchbench.html_report import render_html
from fetchbench.plot import PIXELS, PLOT_NAMES
from fetchbench.results import load_results
from tests.capacity_data import SWEEP

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
)
TAB_BLUE = (31, 119, 180)  # matplotlib's C0: bars and lines of the plots, never the tables


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """The report of the frozen sweep, with a plan, written by the CLI."""
    path = tmp_path_factory.mktemp("report") / "report.html"
    args = ["report", str(SWEEP), "-o", str(path), "--target-rps", "100", "--p99-ms", "200"]
    assert main(args) == 0
    return path


def test_report_holds_the_tables_and_every_plot_inline(report):
    text = report.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    for css in ("summary", "pivot", "capacity", "cost", "plan"):
        assert f'<table class="{css}">' in text
    assert "Throughput (req/s) by workers" in text and "scaling efficiency" in text
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == len(PLOT_NAMES)
    for data in images:
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")
    # self-contained: nothing to fetch, nothing to run
    assert not re.search(r'(src|href)="(?!data:)', text)
    assert "<script" not in text.lower()


def test_plan_marks_extrapolations_in_the_page(report):
    text = report.read_text(encoding="utf-8")
    assert "<td>extrapolated</td>" in text and "<td>measured</td>" in text
    assert "extrapolated, not measured" in text


def test_text_is_escaped():
    results = load_results(SWEEP)
    nasty = "<script>alert('x')</script> & \"quotes\""
    meta = {**results.meta, "machine": {**results.meta["machine"], "host": nasty}}
    summary = results.summary.copy()
    summary.loc[0, "strategy"] = "<b>bold</b>"
    page = render_html(dataclasses.replace(results, meta=meta, summary=summary),
                       with_plots=False)
    assert "<script>" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quotes&quot;" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page


def test_report_errors_are_one_line(tmp_path, capsys):
    assert main(["report", str(SWEEP), "-o", str(tmp_path / "no" / "such" / "r.html")]) == 2
    assert main(["report", str(SWEEP), "--p99-ms", "100"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert err[0].startswith("fetchbench: error: cannot write ")
    assert err[1] == "fetchbench: error: --p99-ms: only with --target-rps"


SHOT_SIZE = (1000, 5000)  # width, height: tall enough to reach the first plots


@pytest.fixture(scope="module")
def browser(report, tmp_path_factory) -> tuple[str, Path]:
    """One headless Chromium run over the report: its DOM and a screenshot."""
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed")
    home = tmp_path_factory.mktemp("chromium")
    shot = home / "shot.png"
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-extensions", "--hide-scrollbars",
        f"--user-data-dir={home / 'profile'}", f"--window-size={SHOT_SIZE[0]},{SHOT_SIZE[1]}",
        f"--screenshot={shot}", "--dump-dom", report.as_uri(),
    ]
    dom = home / "dom.html"
    with dom.open("w", encoding="utf-8") as out:  # a file, not a pipe: helpers may linger
        done = subprocess.run(command, stdout=out, stderr=subprocess.DEVNULL, timeout=180,
                              check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and shot.is_file()
    return dom.read_text(encoding="utf-8"), shot


def test_chromium_parses_the_tables_and_images(browser):
    dom, _ = browser
    assert dom.count('<table class="') == 6  # plan, pivot, 2 capacity, cost, summary
    assert dom.count("<img ") == len(PLOT_NAMES)
    width, height = PIXELS
    assert dom.count(f'width="{width}" height="{height}"') == len(PLOT_NAMES)
    assert "<td>thread</td>" in dom


def test_chromium_draws_the_plots(browser):
    import numpy as np
    from matplotlib.image import imread

    _, shot = browser
    pixels = (imread(shot)[:, :, :3] * 255).round().astype(int)
    assert pixels.shape[:2] == (SHOT_SIZE[1], SHOT_SIZE[0])
    blue = np.all(np.abs(pixels - np.array(TAB_BLUE)) <= 6, axis=2).sum()
    assert blue > 2000  # the figures were decoded and painted, not broken-image icons
    packed = (pixels[:, :, 0] << 16) | (pixels[:, :, 1] << 8) | pixels[:, :, 2]
    assert len(np.unique(packed)) > 200  # text, tables and plots: not a blank page
