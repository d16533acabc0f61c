"""``zoo.png``: published ImageNet top-1 against measured latency, each model named, Pareto front drawn."""

from __future__ import annotations

from pathlib import Path

from edgenas.files import atomic_path

_STYLE = {"fp32": ("o", "tab:blue"), "int8": ("^", "tab:green")}


def plot_zoo(summary: dict, path: Path) -> Path:
    """Draw one series per precision from an ``edgenas zoo`` summary (``edgenas.workflows.zoo.run_zoo``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for precision in summary["precisions"]:
        marker, color = _STYLE.get(precision, ("s", "tab:gray"))
        key = {"min": "latency_min_ms", "cpu": "cpu_ms"}.get(summary.get("statistic", "median"), "latency_ms")
        rows = [r for r in summary["models"] if key in r.get(precision, {})]
        xs = [r[precision][key] for r in rows]
        ys = [100 * r["top1"] for r in rows]
        ax.scatter(xs, ys, marker=marker, color=color, s=36, label=f"{precision} ({summary['backend']}, measured)", zorder=3)
        base = 3 if precision == "fp32" else -10  # fp32 names above their points, int8 names below
        seen: dict[float, int] = {}
        for r, x, y in sorted(zip(rows, xs, ys, strict=True), key=lambda t: (t[2], t[1])):
            k = seen[y] = seen.get(y, -1) + 1  # models with the same accuracy: stack their names
            dy = base + (9 * k if base > 0 else -9 * k)
            ax.annotate(r["name"], (x, y), textcoords="offset points", xytext=(5, dy), fontsize=7, color=color)
        front = sorted((r[precision][key], 100 * r["top1"]) for r in rows if r["name"] in summary["pareto"][precision])
        if front:
            ax.step([f[0] for f in front], [f[1] for f in front], where="post", color=color, lw=1, alpha=0.7)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.margins(x=0.2)
    threads = summary["threads"]
    statistic = summary.get("statistic", "median")
    what = "median CPU time of the inference thread" if statistic == "cpu" else f"{statistic} wall-clock time"
    plural = "s" if threads > 1 else ""
    ax.set_xlabel(f"latency, ms (measured: {summary['backend']}, {threads} thread{plural}, {what}; log scale)")
    ax.set_ylabel("ImageNet top-1, % (published)")
    ax.set_title(f"model zoo on {summary['host']['cpu']}", fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    try:
        with atomic_path(path) as staged:  # the format from the real name: the staged one ends in .tmp
            fig.savefig(staged, format=Path(path).suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)
    return path
