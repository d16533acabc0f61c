"""``runs compare --plot``: several runs' accuracy-latency fronts on the same axes, limits drawn.

The fronts are given as numbers (what :mod:`edgenas.workflows.runs` reads from each run), so the
plot knows nothing of stores or strategies. Each run keeps one colour and one marker across its
front and its latency limit, so a figure printed in grey still tells the runs apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgenas.files import atomic_path

#: One marker per run, in order (cycled past the last).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")


@dataclass(frozen=True)
class RunFront:
    """One run's accuracy-latency front: (latency ms, validation accuracy as a fraction), fastest first."""

    name: str
    points: list[tuple[float, float]]
    latency_limit_ms: float | None = None
    latency_source: str = "estimated"


def plot_fronts(fronts: list[RunFront], path: Path, title: str = "") -> Path:
    """Draw every run's front as a step line with its own marker and legend entry; write ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    colours = plt.get_cmap("tab10")
    sources = sorted({front.latency_source for front in fronts})
    limits = {front.latency_limit_ms for front in fronts if front.latency_limit_ms}
    for i, front in enumerate(fronts):
        colour, marker = colours(i % 10), MARKERS[i % len(MARKERS)]
        source = f", {front.latency_source}" if len(sources) > 1 else ""
        label = f"{front.name} ({len(front.points)} on the front{source})"
        if front.points:
            xs = [latency for latency, _ in front.points]
            ys = [100 * accuracy for _, accuracy in front.points]
            ax.step(xs, ys, where="post", color=colour, lw=1, alpha=0.8)
            ax.scatter(xs, ys, marker=marker, s=36, color=colour, edgecolor="k", linewidth=0.5, label=label, zorder=3)
        else:
            ax.scatter([], [], marker=marker, color=colour, label=f"{front.name} (no trained model)")
        if front.latency_limit_ms and len(limits) > 1:  # limits differ: each drawn in its run's colour
            ax.axvline(
                front.latency_limit_ms, color=colour, ls="--", lw=1, label=f"limit {front.latency_limit_ms:g} ms ({front.name})"
            )
    if len(limits) == 1:
        (limit,) = limits
        ax.axvline(limit, color="tab:red", ls="--", lw=1, label=f"latency limit {limit:g} ms")
    drawn = [latency for front in fronts for latency, _ in front.points] + sorted(limits)
    scale = ""
    if drawn and min(drawn) > 0:  # a log axis needs something positive to show (no trained model: none)
        ax.set_xscale("log")
        plain = FuncFormatter(lambda value, _: f"{value:g}")  # 2, 3, 5 ms rather than 2×10⁰
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(plain)
        scale = ", log scale"
    ax.set_xlabel(f"latency, ms ({sources[0] if len(sources) == 1 else 'source per run'}{scale})")
    ax.set_ylabel("validation accuracy, %")
    ax.set_title(title or "accuracy-latency fronts")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    try:
        with atomic_path(path, "--plot") as staged:  # the format from the real name: the staged one ends in .tmp
            fig.savefig(staged, format=Path(path).suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)
    return Path(path)
