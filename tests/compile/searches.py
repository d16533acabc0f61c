"""The cheapest ``--latency compiled`` search for the compile tests: grey 10x10 images scored by
parameter count (no training), on ``host``, no limits, no export; each test adds its own flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgenas.cli.main import run as edgenas_run
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


def cli(capsys: Any, *args: str) -> tuple[int, str]:
    """``edgenas ARGS`` in this process: its exit code and what it wrote to stderr."""
    code = 0
    try:
        edgenas_run(list(args))
    except SystemExit as stop:
        code = int(stop.code or 0)
    return code, capsys.readouterr().err
