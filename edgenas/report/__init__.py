"""Reports: read the store, write ``report.json``, ``report.md`` and ``pareto.png``."""

from __future__ import annotations

import json
from pathlib import Path

from edgenas.files import write_text
from edgenas.report.markdown import render_markdown
from edgenas.report.plots import plot_pareto
from edgenas.report.summary import build_summary
from edgenas.store import SqliteStore


def write_report(store: SqliteStore, run_dir: Path, stop_reason: str = "") -> dict:
    """Write the run folder's report files; return the summary (what ``--json`` prints)."""
    summary = build_summary(store, run_dir, stop_reason)
    write_text(run_dir / "report.json", json.dumps(summary, indent=2) + "\n")  # each complete or not at all
    write_text(run_dir / "report.md", render_markdown(summary))
    baseline = next(iter(store.trials(role="baseline")), None)
    title = f"{summary['task']['name']} on {summary['target'].get('name', '?')}"
    energy = summary.get("energy") or {}
    x = "energy" if "energy" in str(energy.get("objectives") or "") or summary["constraints"].get("energy_mj") else "latency"
    plot_pareto(store.trials(role="search"), baseline, summary["constraints"], run_dir / "pareto.png", title, x=x)
    return summary


__all__ = ["build_summary", "plot_pareto", "render_markdown", "write_report"]
