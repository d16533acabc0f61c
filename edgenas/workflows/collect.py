"""Collect a latency table on a device: architectures of a space, measured by an ``edgenas agent``.

The library side of ``edgenas predictor collect``. The table it writes is the one
``edgenas predictor fit --latency-table`` reads (:mod:`edgenas.hardware.latency.table`): the
``arch`` key (``Arch.key()``), a ``genotype`` column (the genes as a JSON list, since the key is a
one-way hash), ``macs`` (metadata, for people to read) and one latency column (median ms) named
after the device, with its spread beside it (``<device>_iqr_ms``, which the reader skips).

**Which architectures.** A predictor is fitted on the table and then asked about any
architecture a search proposes, so the table must cover the space: uniform random draws cluster
around the typical size and leave the smallest and largest networks, where predictors err most,
almost unmeasured. So a seeded pool of :data:`POOL_SIZE` distinct random architectures is ordered
by MACs, and the architectures are taken from that order at the two ends first, then at the
middle, then at the quarters, the eighths... (a van der Corput sequence over the quantiles). Any
``n`` of them are spread over the whole range of MACs, and the order does not depend on ``n``: the
first ``n`` of a run asking ``2 n`` are the ``n`` of a run asking ``n``, so a larger ``--n`` only
adds rows to a table, and a run that stopped is continued by the same command.

**Resuming.** The whole table is rewritten atomically after every measured row, so a kill leaves
the table as it was after the previous row, never half a row. A run finds in the file the rows
already measured (they must be the first rows of its plan: the same space and seed) and measures
only the rest; with every row present it does not even contact the agent.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.files import check_writable, write_text
from edgenas.ir import total_macs
from edgenas.tables import METADATA_COLUMNS
from edgenas.trial import Cost

#: Distinct random architectures the plan orders by MACs (20 per row for a 200-row table).
POOL_SIZE = 4000
#: Draws allowed per pool member before a small space is taken as exhausted.
_DRAWS_PER_MEMBER = 20
_DEVICE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_SPREAD = re.compile(r"iqr|spread|std", re.IGNORECASE)  # as edgenas.tables: such a column is not a measurement
_WRITTEN_BY = "edgenas predictor collect"


@dataclass(frozen=True)
class Planned:
    """One architecture of the plan and its MACs."""

    arch: Arch
    macs: int


@dataclass(frozen=True)
class CollectSummary:
    """What a collection left in the table."""

    table: str
    space: str
    device: str
    seed: int
    n: int
    rows: int  # rows in the table now
    measured: int  # rows measured by this run
    kept: int  # rows found in the table and not measured again
    pool: int  # distinct architectures the plan chose from
    pool_macs: tuple[int, int]  # smallest and largest MACs of the pool
    table_macs: tuple[int, int]  # smallest and largest MACs of the table's rows
    measured_by: str | None  # the agent's device, when the agent was asked
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def coverage_order(size: int) -> list[int]:
    """Indices ``0..size-1`` in the order they are measured: both ends, then halves, quarters, eighths...

    Any prefix of this order is spread over the whole range, and a longer prefix extends a shorter one.
    """
    if size <= 0:
        return []
    order: list[int] = []
    seen: set[int] = set()
    for index in (0, size - 1):
        if index not in seen:
            seen.add(index)
            order.append(index)
    level = 1
    while len(order) < size:
        parts = 2**level
        for j in range(1, parts, 2):  # the new points of this level: odd multiples of 1/parts
            index = round(j * (size - 1) / parts)
            if index not in seen:
                seen.add(index)
                order.append(index)
        level += 1
        if parts > 2 * size:  # every index is reachable once the step is below one
            order.extend(i for i in range(size) if i not in seen)
            break
    return order


def plan(space: Any, n: int, seed: int, pool_size: int = POOL_SIZE) -> tuple[list[Planned], tuple[int, int], int]:
    """The first ``n`` architectures to measure for ``seed``: ``(planned, pool MACs range, pool size)``.

    The pool is ``pool_size`` distinct seeded random architectures (fewer for a space that small),
    ordered by MACs then key so the plan is deterministic; see the module docstring for the order.
    """
    rng = np.random.default_rng(seed)
    pool: dict[str, Arch] = {}
    for _ in range(pool_size * _DRAWS_PER_MEMBER):
        arch = space.sample(rng)
        pool.setdefault(arch.key(), arch)
        if len(pool) >= pool_size:
            break
    if n > len(pool):
        raise InvalidInputError(
            f"--n {n} is more than the {len(pool)} distinct {space.name} architectures the plan draws from; "
            f"ask for at most {len(pool)}"
        )
    ordered = sorted((Planned(a, total_macs(space.layers(a))) for a in pool.values()), key=lambda p: (p.macs, p.arch.key()))
    chosen = [ordered[i] for i in coverage_order(len(ordered))[:n]]
    return chosen, (ordered[0].macs, ordered[-1].macs), len(ordered)


def device_column(hostname: str, runtime: str = "onnxruntime") -> str:
    """A latency column name from an agent's hostname (``Pi-4.local`` -> ``pi_4_local``), with the
    runtime where it is not ONNX Runtime (``pi_4_local_litert``): one column is one way of running."""
    suffix = "" if runtime == "onnxruntime" else f" {runtime}"
    name = re.sub(r"[^a-z0-9]+", "_", (hostname + suffix).lower()).strip("_")
    if not name or not name[0].isalpha():
        name = f"device_{name}".rstrip("_")
    return name[:64]


def check_device_name(name: str, flag: str = "--device-name") -> str:
    """A latency column ``predictor fit`` reads as a measurement, or one line saying why not."""
    if not _DEVICE_NAME.match(name):
        raise InvalidInputError(f"{flag} {name!r}: use a letter then letters, digits, '_', '.' or '-' (64 at most)")
    if name in METADATA_COLUMNS or _SPREAD.search(name):
        raise InvalidInputError(
            f"{flag} {name!r}: the table reader takes that column for metadata or a spread, not a latency; choose another name"
        )
    return name


def header(device: str) -> list[str]:
    return ["arch", "genotype", "macs", device, f"{device}_iqr_ms"]


@dataclass(frozen=True)
class _Existing:
    device: str | None
    rows: list[list[str]]


def read_existing(path: Path) -> _Existing:
    """The rows a previous run left in ``path`` (none where there is no file or an empty one)."""
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        return _Existing(None, [])
    foreign = InvalidInputError(
        f"--out {path} exists and is not a table written by `{_WRITTEN_BY}`: choose another --out, or move the file away"
    )
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            head = next(reader, [])
            rows = [r for r in reader if r]
    except (OSError, UnicodeDecodeError, csv.Error):
        raise foreign from None
    if len(head) != 5 or head != header(head[3]) or any(len(r) != 5 for r in rows):
        raise foreign
    return _Existing(head[3], rows)


def _check_prefix(path: Path, existing: _Existing, planned: Sequence[Planned], space: str, seed: int) -> None:
    keys = [r[0] for r in existing.rows]
    if keys != [p.arch.key() for p in planned[: len(keys)]]:
        raise InvalidInputError(
            f"--out {path} holds architectures of another space or seed than --space {space} --seed {seed}: "
            "run with the options that wrote it, or choose another --out"
        )


def _table_text(device: str, rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header(device))
    writer.writerows(rows)
    return buffer.getvalue()


def _kept(exc: Exception, rows: int, n: int, out: Path) -> Exception:
    """``exc`` (an unreachable agent) with what is kept and how to go on."""
    from edgenas.agent.client import AgentUnreachable

    return AgentUnreachable(f"{exc}; {rows} of {n} rows are kept in {out}: run the same command again to continue")


def _latency_only(arch: Arch) -> Cost:
    """The base cost ``AgentLatency`` would complete; collect asks it for measurements only."""
    raise NotImplementedError("collect measures latency only")


def collect_latency_table(
    space_name: str,
    client: Any,
    out: Path,
    n: int,
    *,
    seed: int = 0,
    device_name: str | None = None,
    threads: int = 1,
    warmup: int = 10,
    repeats: int = 50,
    runtime: str = "onnxruntime",
    on_row: Callable[[int, int, Planned, float], None] | None = None,
) -> CollectSummary:
    """Measure the first ``n`` planned architectures of ``space_name`` on ``client``'s agent into ``out``.

    Every flag is checked, and the existing table read, before the agent is asked anything.
    ``on_row(done, n, planned, latency_ms)`` is called after each row is written. An agent that stops
    answering raises :class:`~edgenas.agent.client.AgentUnreachable` saying how many rows are kept.
    """
    from edgenas.agent.client import AgentUnreachable
    from edgenas.measure.base import check_counts
    from edgenas.spaces import SPACES

    start = time.monotonic()
    if n < 1:
        raise InvalidInputError(f"--n must be at least 1, got {n}")
    if seed < 0:
        raise InvalidInputError(f"--seed must be 0 or more, got {seed}")
    check_counts(repeats, warmup, threads)
    from edgenas.agent.protocol import MODEL_RUNTIMES

    if runtime not in MODEL_RUNTIMES:
        raise InvalidInputError(f"--runtime must be one of {', '.join(MODEL_RUNTIMES)}, got {runtime!r}")
    if device_name is not None:
        check_device_name(device_name)
    space = SPACES.create(space_name)
    out = check_writable(out, "--out")
    existing = read_existing(out)
    if device_name is not None and existing.device not in (None, device_name):
        raise InvalidInputError(
            f"--out {out} holds latencies of device {existing.device!r}, not {device_name!r}: "
            f"pass --device-name {existing.device} to continue it, or choose another --out"
        )
    planned, pool_macs, pool = plan(space, max(n, len(existing.rows)), seed)
    _check_prefix(out, existing, planned, space_name, seed)
    rows = [list(r) for r in existing.rows]
    kept = len(rows)
    device, measured_by = existing.device or device_name, None
    todo = planned[len(rows) : n]
    if todo:
        from edgenas.agent.loop import AgentLatency

        try:
            info = client.info()
        except AgentUnreachable as exc:
            raise _kept(exc, len(rows), n, out) from None
        measured_by = f"{info.device.hostname} ({info.device.cpu_model})"
        if device_name is None:
            default = check_device_name(
                device_column(info.device.hostname, runtime), "the agent's hostname as a column name: pass --device-name"
            )
            if device is not None and device != default:
                raise InvalidInputError(
                    f"--out {out} holds latencies of device {device!r}, and this agent's name is {default!r}: "
                    f"pass --device-name {device} to continue it on this agent, or choose another --out"
                )
            device = default
        column: str = device or str(device_name)  # the file's column, --device-name, or the agent's name
        meter = AgentLatency(
            space,
            _latency_only,
            client,
            threads=threads,
            warmup=warmup,
            repeats=repeats,
            runtime=runtime,
        )
        for item in todo:
            try:
                figures = meter.measure(item.arch)
            except AgentUnreachable as exc:
                raise _kept(exc, len(rows), n, out) from None
            rows.append(
                [
                    item.arch.key(),
                    json.dumps(list(item.arch.genes), separators=(",", ":")),
                    str(item.macs),
                    f"{figures['latency_ms']:.6g}",
                    f"{figures['iqr_ms']:.6g}",
                ]
            )
            write_text(out, _table_text(column, rows), "--out")  # atomic: a kill keeps every finished row
            if on_row is not None:
                on_row(len(rows), n, item, figures["latency_ms"])
    assert device is not None  # either the file had a column or rows were measured
    macs = [int(r[2]) for r in rows] or [0]
    return CollectSummary(
        table=str(out),
        space=space_name,
        device=device,
        seed=seed,
        n=n,
        rows=len(rows),
        measured=len(rows) - kept,
        kept=kept,
        pool=pool,
        pool_macs=pool_macs,
        table_macs=(min(macs), max(macs)),
        measured_by=measured_by,
        seconds=round(time.monotonic() - start, 3),
    )
