"""``pareto.png``: accuracy against estimated latency, peak SRAM as colour, limits drawn."""

from __future__ import annotations

from pathlib import Path

from edgenas.objectives import pareto_front
from edgenas.trial import Trial, TrialState


def plot_pareto(trials: list[Trial], baseline: Trial | None, limits: dict, path: Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [t for t in trials if t.state is TrialState.COMPLETE]
    infeasible = [t for t in trials if t.state is TrialState.INFEASIBLE and t.cost is not None]
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    if infeasible:
        ax.scatter(
            [t.cost.latency_ms for t in infeasible],
            [0.0] * len(infeasible),
            marker="|",
            color="0.6",
            label=f"infeasible, not trained ({len(infeasible)})",
        )
    if done:
        points = ax.scatter(
            [t.cost.latency_ms for t in done],
            [100 * t.accuracy for t in done],  # type: ignore[union-attr,operator]
            c=[t.cost.peak_sram_bytes / 1024 for t in done],
            cmap="viridis",
            s=28,  # type: ignore[union-attr]
            label=f"trained ({len(done)})",
        )
        fig.colorbar(points, ax=ax, label="peak SRAM, KiB (estimated)")
        front = sorted(pareto_front(done), key=lambda t: t.cost.latency_ms)  # type: ignore[union-attr]
        ax.step(
            [t.cost.latency_ms for t in front],
            [100 * t.accuracy for t in front],  # type: ignore[union-attr,operator]
            where="post",
            color="tab:red",
            lw=1,
            label="Pareto front",
        )
    if baseline is not None and baseline.metrics is not None and baseline.cost is not None:
        ax.scatter(
            [baseline.cost.latency_ms],
            [100 * baseline.accuracy],
            marker="*",
            s=160,  # type: ignore[operator]
            color="tab:orange",
            edgecolor="k",
            label="DS-CNN-S baseline",
            zorder=5,
        )
    if limits.get("latency_ms"):
        ax.axvline(limits["latency_ms"], color="tab:red", ls="--", lw=1, label=f"limit {limits['latency_ms']:g} ms")
    ax.set_xlabel("latency, ms (estimated)")
    ax.set_ylabel("validation accuracy, %")
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
