"""The plots of the HTML audit page (:mod:`oracle.report.html`), drawn by matplotlib as inline SVG.

Every function returns one ``<svg>`` element as text, ready to be placed in an
HTML page: no XML declaration or DTD (which would name a network address),
no metadata block, and every ``id`` prefixed with the plot's own name so
that several plots on one page never share an id. Output is deterministic:
the Agg backend, a fixed ``svg.hashsalt`` per plot, no date.

Ratios are *error over allowance*, ``|actual - reference| / (atol + rtol *
|reference|)``: at most 1 passes. They are drawn on log axes whose limits
are taken from the data; a ratio of 0 (exact agreement) is drawn at the left
or bottom edge and an infinite one (a crash, a shape or dtype mismatch) at
the right edge, marked ``inf``.
"""

from __future__ import annotations

import io
import itertools
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import matplotlib
import numpy as np

matplotlib.use("Agg")  # before pyplot: no display, the same pixels everywhere

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

#: Colours of passing and failing marks, and of the tolerance line.
PASS_COLOUR, FAIL_COLOUR, LINE_COLOUR = "#4c72b0", "#d62728", "#333333"

#: Marker of each oracle pair, in the order the pairs are given (repeated past the end).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*", "h", "p")

#: Height in inches of one row of the ratio plot.
ROW_HEIGHT = 0.17

#: No ``<metadata>`` block (it names Dublin Core addresses and a date).
SVG_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}


@dataclass(frozen=True)
class RatioPoint:
    """One check in the ratio plot: its row label, panel (dtype), oracle pair, worst ratio and verdict."""

    row: str
    panel: str
    pair: str
    ratio: float
    passed: bool


@dataclass(frozen=True)
class StepSeries:
    """One line of the per-step plot: a label (pair and case) and the worst ratio at each time step."""

    label: str
    steps: tuple[float, ...]


@contextmanager
def _style(name: str) -> Iterator[None]:
    # Text as paths (no font is loaded when viewed); the salt fixes the ids that name the plot's markers and clips.
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": name, "font.size": 8, "axes.titlesize": 9,
                                "figure.dpi": 100}):
        yield


def to_svg(figure: Figure, name: str) -> str:
    """``figure`` as one inline ``<svg>`` element whose ids all start with ``name-``; closes the figure."""
    buffer = io.StringIO()
    with _style(name):
        figure.savefig(buffer, format="svg", metadata=SVG_METADATA, bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]  # drop the XML declaration and the DTD (a network address)
    text = re.sub(r'\bid="([^"]+)"', rf'id="{name}-\1"', text)
    text = re.sub(r'(href="#|url\(#)([^")]+)', rf"\1{name}-\2", text)
    return text.replace("<svg ", f'<svg class="plot" id="{name}" role="img" ', 1)


def _limits(values: Sequence[float], floor: float = 1.0) -> tuple[float, float]:
    """Log-axis limits covering the finite positive ``values`` and ``floor``, a decade of margin each side."""
    finite = [value for value in values if 0 < value < math.inf] + [floor]
    return 10.0 ** (math.floor(math.log10(min(finite))) - 1), 10.0 ** (math.ceil(math.log10(max(finite))) + 1)


def _clipped(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def ratio_plot(points: Sequence[RatioPoint], pairs: Sequence[str], name: str = "ratio-plot") -> str:
    """The worst ratio of every check: one row per label, one panel per dtype, one marker per oracle pair.

    Parameters
    ----------
    points
        The checks, in the order their rows should appear (top to bottom).
    pairs
        Oracle pairs in legend order (``"impl vs torch[cpu]"``, ...); each gets a marker.
    """
    rows = list(dict.fromkeys(point.row for point in points))
    panels = list(dict.fromkeys(point.panel for point in points))
    low, high = _limits([point.ratio for point in points])
    with _style(name):
        figure, axes = plt.subplots(1, len(panels), sharey=True, squeeze=False, layout="constrained",
                                    figsize=(3.2 * len(panels) + 2.2, ROW_HEIGHT * len(rows) + 1.5))
        for ax, panel in zip(axes[0], panels, strict=True):
            ax.set_xscale("log")
            ax.set_xlim(low, high)
            ax.axvline(1.0, color=LINE_COLOUR, linewidth=1, linestyle="--", zorder=1)
            for stripe in range(0, len(rows), 2):
                ax.axhspan(stripe - 0.5, stripe + 0.5, color="#f2f2f2", zorder=0, linewidth=0)
            for pair, marker in zip(pairs, itertools.cycle(MARKERS)):
                mine = [point for point in points if point.panel == panel and point.pair == pair]
                for passed, colour in ((True, PASS_COLOUR), (False, FAIL_COLOUR)):
                    chosen = [point for point in mine if point.passed is passed]
                    ax.scatter([_clipped(point.ratio, low, high) for point in chosen],
                               [rows.index(point.row) for point in chosen],
                               marker=marker, s=18, color=colour, zorder=3, linewidths=0, clip_on=False)
                for point in mine:
                    if math.isinf(point.ratio):
                        ax.annotate("inf", (high, rows.index(point.row)), xytext=(-14, -3),
                                    textcoords="offset points", fontsize=6, color=FAIL_COLOUR)
            ax.set_title(panel)
            ax.set_xlabel("worst |error| / allowed (log)")
            ax.grid(axis="x", color="#dddddd", linewidth=0.5)
        axes[0][0].set_yticks(range(len(rows)), rows)
        axes[0][0].set_ylim(len(rows) - 0.5, -0.5)
        handles = [plt.Line2D([], [], marker=marker, linestyle="", color="#555555", label=pair)
                   for pair, marker in zip(pairs, itertools.cycle(MARKERS))]
        handles += [plt.Line2D([], [], marker="o", linestyle="", color=FAIL_COLOUR, label="failed"),
                    plt.Line2D([], [], color=LINE_COLOUR, linestyle="--", label="tolerance (ratio 1)")]
        figure.legend(handles=handles, loc="outside upper center", ncol=min(len(handles), 3), frameon=False)
    return to_svg(figure, name)


def steps_plot(series: Sequence[StepSeries], title: str, name: str) -> str:
    """Worst ratio per time step, one line per series, log y axis, the tolerance line at 1."""
    low, high = _limits([value for line in series for value in line.steps])
    length = max(len(line.steps) for line in series)
    with _style(name):
        figure, ax = plt.subplots(figsize=(4.6, 2.4), layout="constrained")
        for line, marker in zip(series, itertools.cycle(MARKERS)):
            ax.plot(range(len(line.steps)), [_clipped(value, low, high) for value in line.steps],
                    marker=marker, markersize=4, label=line.label)
        ax.axhline(1.0, color=LINE_COLOUR, linewidth=1, linestyle="--", label="tolerance")
        ax.set_yscale("log")
        ax.set_ylim(low, high)
        ax.set_xticks(range(length))
        ax.set_xlabel("time step t")
        ax.set_ylabel("worst |error| / allowed")
        ax.set_title(title)
        ax.legend(fontsize=6, frameon=False, loc="best")
    return to_svg(figure, name)


def gate_heatmap(rows: Sequence[str], gates: Sequence[str], values: Sequence[Sequence[float]], title: str,
                 name: str) -> str:
    """A heatmap of worst ratios: one row per gated parameter, one column per gate, log colour scale.

    ``values[r][g]`` is the worst ratio of row ``r`` in gate ``g`` (``nan``: not measured, left blank).
    Each cell is labelled with its value; the colour bar marks the tolerance at 1.
    """
    measured = [value for row in values for value in row if not math.isnan(value)]
    low, high = _limits(measured)
    with _style(name):
        figure, ax = plt.subplots(figsize=(2.2 + 0.75 * len(gates), 1.0 + 0.38 * len(rows)), layout="constrained")
        shown = np.array([[_clipped(value, low, high) if not math.isnan(value) else math.nan for value in row]
                          for row in values])
        norm = LogNorm(low, high)
        image = ax.imshow(shown, norm=norm, cmap="Reds", aspect="auto")
        darkness = np.asarray(norm(shown))  # where on the colour scale each cell lies, 0 to 1
        for r, row in enumerate(values):
            for g, value in enumerate(row):
                if not math.isnan(value):
                    ax.text(g, r, f"{value:.2g}", ha="center", va="center", fontsize=7,
                            color="white" if darkness[r, g] > 0.6 else "black")
        ax.set_xticks(range(len(gates)), gates)
        ax.set_yticks(range(len(rows)), rows)
        ax.set_xlabel("gate")
        ax.set_title(title)
        bar = figure.colorbar(image, ax=ax)
        bar.ax.axhline(1.0, color=LINE_COLOUR, linewidth=1.5)
        bar.set_label("worst |error| / allowed", fontsize=7)
    return to_svg(figure, name)
