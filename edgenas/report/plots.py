"""``pareto.png``: accuracy against estimated latency, peak SRAM as colour, limits drawn."""

from __future__ import annotations

from pathlib import Path

from edgenas.files import atomic_path
from edgenas.objectives import pareto_front
from edgenas.trial import Cost, Metrics, Trial, TrialState


def plot_pareto(trials: list[Trial], baseline: Trial | None, limits: dict, path: Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [t for t in trials if t.state is TrialState.COMPLETE]
    infeasible = [t for t in trials if t.state is TrialState.INFEASIBLE and t.cost is not None]
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
            [_cost(t).latency_ms for t in infeasible],
            [floor] * len(infeasible),
            marker="|",
            s=120,
            color="0.55",
            label=f"infeasible, not trained ({len(infeasible)})",
            clip_on=False,
        )
    if done:
        points = ax.scatter(
            [_cost(t).latency_ms for t in done],
            [scale * _metrics(t).accuracy for t in done],
            c=[_cost(t).peak_sram_bytes / 1024 for t in done],
            cmap="viridis",
            s=28,
            label=f"trained ({len(done)})",
        )
        fig.colorbar(points, ax=ax, label="peak SRAM, KiB (estimated)")
        front = pareto_front(done, objectives=(lambda t: -_metrics(t).accuracy, lambda t: _cost(t).latency_ms))
        front = sorted(front, key=lambda t: _cost(t).latency_ms)
        ax.step(
            [_cost(t).latency_ms for t in front],
            [scale * _metrics(t).accuracy for t in front],
            where="post",
            color="tab:red",
            lw=1,
            label="Pareto front (accuracy, latency)",
        )
    if baseline is not None and baseline.metrics is not None and baseline.cost is not None and not signal:
        ax.scatter(
            [baseline.cost.latency_ms],
            [100 * baseline.metrics.accuracy],
            marker="*",
            s=160,
            color="tab:orange",
            edgecolor="k",
            label="DS-CNN-S baseline",
            zorder=5,
        )
    if limits.get("latency_ms"):
        ax.axvline(limits["latency_ms"], color="tab:red", ls="--", lw=1, label=f"limit {limits['latency_ms']:g} ms")
    ax.set_xscale("log")
    ax.set_ylim(bottom=floor)
    ax.set_xlabel("latency, ms (estimated, log scale)")
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
