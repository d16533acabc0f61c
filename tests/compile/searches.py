"""The cheapest ``--latency compiled`` search for the compile tests: grey 10x10 images scored by
parameter count (no training), on ``host``, no limits, no export; each test adds its own flags."""

from __future__ import annotations

from pathlib import Path

from edgenas.workflows.search import SearchConfig
from tests.cli.images import grey_classes


def compiled_search(root: Path, **options: object) -> SearchConfig:
    values: dict = {
        "task": "images",
        "data": grey_classes(root / "imgs"),
        "evaluator": "zerocost:params",
        "strategy": "random",
        "budget": 3,
        "epochs": 1,
        "out": root / "run",
        "export": False,
        "latency_ms": None,
        "sram_kb": None,
        "target": "host",
        "latency": "compiled",
        "compiler": "tvm",
        **options,
    }
    return SearchConfig(**values)
