"""Fit a latency predictor on rows of a latency table and evaluate it on the rows it never saw.

The library side of ``edgenas predictor fit`` / ``eval`` and of ``benchmarks/predictors.py``: it
joins a space (archs -> layers) to a table (archs -> measured ms) and to the torch-free
:mod:`edgenas.hardware.latency`. A predictor file records which table rows trained it (their keys), so
evaluation is always on held-out architectures. It also records where that table was, for people
to read: a predictor file is data from elsewhere, so evaluation never opens a path it names
(:func:`evaluation_table`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from edgenas.errors import InvalidInputError
from edgenas.hardware.latency import (
    PREDICTORS,
    FewShotPredictor,
    LatencyMetrics,
    LatencyPredictor,
    Net,
    TransferPredictor,
    latency_metrics,
    nets_of,
)
from edgenas.hardware.latency.table import select_rows, split_rows, table_archs
from edgenas.settings import shared_data_dir
from edgenas.spaces import SPACES
from edgenas.tables import MeasuredTable, read_table

#: The CLI option that names a latency table (quoted in messages).
TABLE_FLAG = "--latency-table"

#: The shared table each space is measured in (``$EDGENAS_SHARED_DATA/benchmarks/``).
DEFAULT_TABLES = {"nb201": "nb201_latency_ms.csv", "fbnet": "fbnet_cifar100_latency_ms.csv"}
#: Source architectures per source device when pretraining a few-shot predictor.
SOURCE_SIZE = 1000


def default_table(space: str, shared_data: Path | None = None) -> Path:
    """The shared latency table of ``space``; spaces without one need ``--latency-table``."""
    SPACES.get(space)
    if space not in DEFAULT_TABLES:
        raise InvalidInputError(f"space {space!r} has no shared latency table: pass --latency-table CSV (see docs/predictors.md)")
    return shared_data_dir(shared_data) / "benchmarks" / DEFAULT_TABLES[space]


def evaluation_table(predictor_file: Path, info: dict[str, Any], latency_table: Path | None) -> tuple[str, Path]:
    """The space and the table to evaluate a predictor file on: ``(space, table)``.

    The file's ``info`` says which table trained it, but a predictor file is data from elsewhere:
    were its word enough, any file on this machine could be read (and a line of it quoted in an
    error). So the table is the one passed on the command line; without one, the space's shared
    table, and only where the file says it was fitted on a table of that name (the shared one,
    perhaps on another machine). Any other table must be named again.
    """
    space = info.get("space", "nb201")
    if not isinstance(space, str) or space not in SPACES.names():
        raise InvalidInputError(
            f"{predictor_file}: field info.space is not a search space ({', '.join(SPACES.names())}); "
            "write the file again with `edgenas predictor fit`"
        )
    device, keys = info.get("device"), info.get("train_keys")
    bad = [
        name
        for name, ok in (
            ("device", device is None or isinstance(device, str)),
            ("train_keys", keys is None or (isinstance(keys, list) and all(isinstance(k, str) for k in keys))),
        )
        if not ok
    ]
    if bad:
        raise InvalidInputError(
            f"{predictor_file}: field info.{bad[0]} is malformed; write the file again with `edgenas predictor fit`"
        )
    if latency_table is not None:
        return space, latency_table
    recorded, shared = info.get("latency_table"), DEFAULT_TABLES.get(space)
    if shared is not None and (recorded is None or (isinstance(recorded, str) and PurePath(recorded).name == shared)):
        return space, default_table(space)
    fitted_on = (
        f"the {space} space has no shared latency table"
        if shared is None
        else f"{predictor_file} was fitted on a table other than the shared {space} one"
    )
    raise InvalidInputError(
        f"{fitted_on}, and edgenas opens no file on a predictor file's word: "
        f"pass {TABLE_FLAG} CSV (the table it was fitted on, or another)"
    )


def _measured(latency_ms: np.ndarray) -> np.ndarray:
    """Which rows hold a usable latency (finite, positive ms), as a mask."""
    return np.isfinite(latency_ms) & (latency_ms > 0)


def device_family(device: str) -> str:
    """``titanx_32`` -> ``titanx``: the same hardware at another batch size is not a *new* device."""
    return re.sub(r"_\d+$", "", device)


@dataclass
class TableData:
    """A latency table joined to a space: the nets of every row, computed once."""

    space_name: str
    table: MeasuredTable
    nets: list[Net] = field(repr=False)

    @classmethod
    def load(cls, space: str, latency_table: Path) -> TableData:
        sp = SPACES.create(space)
        table = read_table(latency_table, flag=TABLE_FLAG, what="latency table")
        return cls(space, table, nets_of(sp, table_archs(sp, table)))

    def column(self, device: str) -> np.ndarray:
        """The latencies (ms) measured on ``device``, nan where not measured; an unknown device names the accepted ones."""
        return self.table.column(device, "latency column")

    def pick(self, rows: np.ndarray | list[int]) -> list[Net]:
        return [self.nets[i] for i in rows]

    def dropped(self, device: str) -> dict[str, int]:
        """How many rows of ``device``'s column no predictor learns from, by why (blank, not finite, not positive)."""
        return {why: len(rows) for why, rows in self.table.invalid_rows(device, "latency column").items()}


def fit_predictor(
    data: TableData,
    device: str,
    train_size: int,
    kind: str = "lgbm",
    seed: int = 0,
    params: dict[str, Any] | None = None,
    source_size: int = SOURCE_SIZE,
) -> tuple[LatencyPredictor, dict[str, Any]]:
    """Fit ``kind`` on ``train_size`` seeded random rows measured on ``device``: ``(predictor, info)``.

    ``fewshot`` first pretrains on ``source_size`` rows of every other device column outside the
    target's family, then adapts with the ``train_size`` target rows. ``transfer`` keeps those
    columns' measurements of every row they all measured and draws its training rows among them.
    """
    factory = PREDICTORS.get(kind)
    y = data.column(device)
    predictor = factory(**(params or {}))
    rows = select_rows(data.table, device)
    sources: list[str] = []
    if isinstance(predictor, FewShotPredictor):
        sources = _source_devices(data, device, kind)
        pool = np.flatnonzero(np.all([_measured(data.column(d)) for d in sources], axis=0))
        if isinstance(predictor, TransferPredictor):  # it knows only what every source measured
            rows = np.intersect1d(rows, pool)
    train, _ = split_rows(rows, train_size, seed)
    info: dict[str, Any] = {
        "space": data.space_name,
        "device": device,
        "latency_table": str(data.table.path),
        "train_size": int(train_size),
        "seed": int(seed),
        "train_keys": [data.table.keys[i] for i in train],
        "dropped_rows": data.dropped(device),
    }
    if isinstance(predictor, FewShotPredictor):
        if isinstance(predictor, TransferPredictor):  # every architecture the sources measured
            chosen = pool
        else:
            rng = np.random.default_rng([seed, 1])
            chosen = np.sort(rng.choice(pool, size=min(source_size, len(pool)), replace=False))
        predictor.pretrain(data.pick(chosen), {d: data.column(d)[chosen] for d in sources})
        info["sources"] = sources
        info["source_size"] = int(len(chosen))
    predictor.fit(data.pick(train), y[train])
    return predictor, info


def _source_devices(data: TableData, device: str, kind: str) -> list[str]:
    """Every device column of the table outside ``device``'s family: what fewshot and transfer learn from."""
    family = device_family(device)
    sources = [d for d in data.table.names() if device_family(d) != family]
    if not sources:
        raise InvalidInputError(
            f"--kind {kind} needs other devices in {data.table.path} to learn from; it has only {device!r}'s family"
        )
    return sources


def evaluate_predictor(
    predictor: LatencyPredictor, info: dict[str, Any], data: TableData, device: str | None = None
) -> tuple[LatencyMetrics, dict[str, Any]]:
    """Metrics on every row measured on ``device`` (default: the fit's) that did not train the predictor."""
    device = device or str(info.get("device"))
    if info.get("space") not in (None, data.space_name):
        raise InvalidInputError(f"the predictor was fitted on space {info['space']!r}, the table is read as {data.space_name!r}")
    y = data.column(device)
    trained = set(info.get("train_keys", []))
    held = np.array([i for i in select_rows(data.table, device) if data.table.keys[i] not in trained], dtype=int)
    if len(held) < 2:
        raise InvalidInputError(f"{data.table.path} has {len(held)} rows on {device!r} that the predictor was not trained on")
    metrics = latency_metrics(y[held], predictor.predict(data.pick(held)))
    return metrics, {"device": device, "latency_table": str(data.table.path), "held_out": int(len(held))}
