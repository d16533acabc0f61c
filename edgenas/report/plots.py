"""``pareto.png``: accuracy against estimated latency (or, when the search limited or optimised energy,
against estimated energy per inference), peak SRAM as colour, limits drawn."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgenas.files import atomic_path
from edgenas.objectives import pareto_front
from edgenas.trial import Cost, Metrics, Trial, TrialState


def plot_pareto(
    trials: list[Trial], baseline: Trial | None, limits: dict, path: Path, title: str = "", x: str = "latency"
) -> Path:
    """Draw the search's trials, its front and its limits; ``x`` is ``latency`` or ``energy``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axis: Callable[[Cost], float | None] = (lambda c: c.energy_mj) if x == "energy" else (lambda c: c.latency_ms)
    done = [t for t in trials if t.state is TrialState.COMPLETE and axis(_cost(t)) is not None]
    infeasible = [t for t in trials if t.state is TrialState.INFEASIBLE and t.cost is not None and axis(t.cost) is not None]

    def at(t: Trial) -> float:
        value = axis(_cost(t))
        assert value is not None
        return value

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    # A zero-cost search's trials hold proxy scores, plotted as they are (not as percent).
    signal = _metrics(done[0]).signal if done and not _metrics(done[0]).is_accuracy else None
    scale = 1.0 if signal else 100.0
    accuracies = [scale * _metrics(t).accuracy for t in done] + (
        [scale * baseline.metrics.accuracy] if baseline and baseline.metrics else []
    )
    spread = max(accuracies) - min(accuracies) if accuracies else 0.0
    floor = (min(accuracies) - 0.05 * spread if signal else max(0.0, min(accuracies) - 5.0)) if accuracies else 0.0
    if infeasible:  # a rug along the bottom: where the limits cut, without a fake accuracy
        ax.scatter(
            [at(t) for t in infeasible],
            [floor] * len(infeasible),
            marker="|",
            s=120,
            color="0.55",
            label=f"infeasible, not trained ({len(infeasible)})",
            clip_on=False,
        )
    if done:
        points = ax.scatter(
            [at(t) for t in done],
            [scale * _metrics(t).accuracy for t in done],
            c=[_cost(t).peak_sram_bytes / 1024 for t in done],
            cmap="viridis",
            s=28,
            label=f"trained ({len(done)})",
        )
        fig.colorbar(points, ax=ax, label="peak SRAM, KiB (estimated)")
        front = pareto_front(done, objectives=(lambda t: -_metrics(t).accuracy, at))
        front = sorted(front, key=at)
        ax.step(
            [at(t) for t in front],
            [scale * _metrics(t).accuracy for t in front],
            where="post",
            color="tab:red",
            lw=1,
            label=f"Pareto front (accuracy, {x})",
        )
    baseline_at = axis(baseline.cost) if baseline is not None and baseline.cost is not None and not signal else None
    if baseline is not None and baseline.metrics is not None and baseline_at is not None:
        ax.scatter(
            [baseline_at],
            [100 * baseline.metrics.accuracy],
            marker="*",
            s=160,
            color="tab:orange",
            edgecolor="k",
            label="DS-CNN-S baseline",
            zorder=5,
        )
    limit, unit = (limits.get("energy_mj"), "mJ") if x == "energy" else (limits.get("latency_ms"), "ms")
    if limit:
        ax.axvline(limit, color="tab:red", ls="--", lw=1, label=f"limit {limit:g} {unit}")
    ax.set_xscale("log")
    ax.set_ylim(bottom=floor)
    ax.set_xlabel("energy per inference, mJ (estimated, log scale)" if x == "energy" else "latency, ms (estimated, log scale)")
    ax.set_ylabel(f"{signal} score (not an accuracy)" if signal else "validation accuracy, %")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    try:
        with atomic_path(path) as staged:  # the format from the real name: the staged one ends in .tmp
            fig.savefig(staged, format=Path(path).suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)
    return path


def _cost(t: Trial) -> Cost:
    """The cost of a COMPLETE or INFEASIBLE trial (the loop sets it on both)."""
    assert t.cost is not None
    return t.cost


def _metrics(t: Trial) -> Metrics:
    """The metrics of a COMPLETE trial."""
    assert t.metrics is not None
    return t.metrics
