"""``fetchbench plot``: every figure renders from a saved results file to a real PNG."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from fetchbench.cli import main
from fetchbench.plot import PIXELS, PLOT_NAMES, caption, representatives, write_plots
from fetchbench.results import load_results
from tests.capacity_data import SWEEP

MIN_BYTES = 15_000  # a blank 800×500 PNG is ~5 KB; these have text, lines and bars


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (and a check that it is a PNG)."""
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def drawn(tmp_path_factory) -> tuple[list[Path], list[str]]:
    return write_plots(load_results(SWEEP), tmp_path_factory.mktemp("plots"))


@pytest.mark.parametrize("name", PLOT_NAMES)
def test_each_plot_is_a_non_trivial_png_of_the_expected_size(drawn, name):
    paths, warnings = drawn
    assert warnings == []
    path = next(p for p in paths if p.name == f"{name}.png")
    assert path.stat().st_size > MIN_BYTES
    assert png_size(path) == PIXELS == (800, 500)


def test_plots_are_not_all_alike(drawn):
    paths, _ = drawn
    assert len({p.read_bytes() for p in paths}) == len(PLOT_NAMES)


def test_caption_names_host_cpus_and_date():
    meta = {"created": "2026-11-27T08:06:29Z",
            "machine": {"host": "box", "cpu_count": 8, "cpus_available": 4}}
    assert caption(meta) == "host box · 4 CPUs available (of 8) · 2026-11-27 08:06:29 UTC"
    assert caption({}) == "host unknown host · CPU count unknown · date unknown"


def test_representative_configuration_is_the_fastest_of_each_strategy():
    best = representatives(load_results(SWEEP).summary)
    assert list(best["strategy"]) == ["serial", "process", "thread", "gevent-spawn",
                                      "gevent-pool"]
    spawn = best[best["strategy"] == "gevent-spawn"].iloc[0]
    assert (spawn["workers"], spawn["cpus"]) == (24, 2)


def test_without_the_records_csv_the_cdf_is_skipped_with_a_warning(tmp_path, capsys):
    shutil.copy(SWEEP, tmp_path / SWEEP.name)  # the JSON alone
    assert main(["plot", str(tmp_path / SWEEP.name), "-o", str(tmp_path / "out")]) == 0
    made = sorted(p.stem for p in (tmp_path / "out").glob("*.png"))
    assert made == sorted(n for n in PLOT_NAMES if n != "latency_cdf")
    assert "latency_cdf: skipped" in capsys.readouterr().err


def test_plot_command_errors_are_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["plot", str(SWEEP), "-o", str(blocker)]) == 2
    assert main(["plot", str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"fetchbench: error: plot directory {blocker} is not a directory",
                   f"fetchbench: error: {tmp_path / 'missing.json'}: no such results file"]


def test_plot_option_of_a_run_draws_after_saving(tmp_path):
    out, plots = tmp_path / "results", tmp_path / "plots"
    args = ["--strategy", "thread", "--workers", "1,2", "--urls", "6", "--delay", "0",
            "--size", "100", "-q", "-o", str(out), "--plot", str(plots)]
    assert main(args) == 0
    assert len(list(out.glob("*.json"))) == 1
    assert sorted(p.stem for p in plots.glob("*.png")) == sorted(PLOT_NAMES)


def test_plot_option_needs_saved_results(capsys):
    assert main(["--no-save", "--plot", "somewhere", "--urls", "1"]) == 2
    assert "--plot: needs saved results" in capsys.readouterr().err


def test_cost_plot_shows_pss_where_measured(tmp_path):
    from dataclasses import replace

    from fetchbench.plot import PLOTS, draw_cost, render_png

    results = load_results(SWEEP)  # saved before PSS existed: the RSS figure alone
    summary = results.summary.copy()
    summary["peak_pss_mib"] = summary["peak_rss_mib"] * 0.4
    with_pss = replace(results, summary=summary)
    spec = next(p for p in PLOTS if p.draw is draw_cost)
    without, with_ = render_png(results, spec), render_png(with_pss, spec)
    assert without != with_ and len(with_) > MIN_BYTES

    from matplotlib.figure import Figure

    fig = Figure()
    draw_cost(with_pss, fig)
    memory = fig.axes[1]
    assert "peak PSS" in memory.get_title()
    assert memory.get_legend() is not None  # the RSS sum drawn behind, outlined
    fig = Figure()
    draw_cost(results, fig)
    assert "peak RSS" in fig.axes[1].get_title()
