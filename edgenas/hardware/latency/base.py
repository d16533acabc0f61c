"""The latency-predictor interface: fit on measured networks, predict milliseconds, save as JSON.

A predictor sees a network as a :class:`Net`: its genes (for the one-hot architecture encoding)
and its deployed layers (the hardware IR, for layer features and look-up tables). Spaces build
them (:func:`nets_of`), so this package never imports a space, nor torch. Every predictor is
scikit-learn shaped (the constructor stores parameters, ``fit`` does the work) and round-trips
through plain JSON (:func:`save` / :func:`load`): no pickle, so a predictor file is safe to
share and readable in a diff.
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self

import numpy as np

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError, MissingDataError
from edgenas.files import write_text
from edgenas.ir import Layer

#: The ``format`` field of a predictor file; anything else is not one.
FILE_FORMAT = "edgenas-latency-predictor"
FILE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Net:
    """One architecture as a latency predictor sees it.

    Attributes:
        genes: ``Arch.genes`` (one choice index per decision).
        cardinalities: Number of choices of each decision (the one-hot widths).
        layers: ``space.layers(arch)``: the deployed operators.
        choices: The chosen value of each decision as ``kind=value``, where ``kind`` is the
            decision's name without digits (``b3_kernel`` -> ``b_kernel=5``; every NB201 edge
            -> ``<-=nor_conv_3x3``): what a look-up table may share across positions.
    """

    genes: tuple[int, ...]
    cardinalities: tuple[int, ...]
    layers: tuple[Layer, ...]
    choices: tuple[str, ...] = ()


class _Space(Protocol):  # the two methods of SearchSpace a predictor needs (no import of edgenas.spaces)
    def decisions(self) -> Sequence[Any]: ...

    def layers(self, arch: Arch) -> list[Layer]: ...


def nets_of(space: _Space, archs: Sequence[Arch]) -> list[Net]:
    """The :class:`Net` of each arch of ``space`` (pure Python; about 1,500 NB201 cells/s)."""
    decisions = list(space.decisions())
    cardinalities = tuple(len(d.choices) for d in decisions)
    kinds = [re.sub(r"\d+", "", str(d.name)) for d in decisions]
    return [
        Net(
            tuple(a.genes),
            cardinalities,
            tuple(space.layers(a)),
            tuple(f"{k}={d.choices[g]}" for k, d, g in zip(kinds, decisions, a.genes, strict=True)),
        )
        for a in archs
    ]


class LatencyPredictor(ABC):
    """Predicts a network's latency (ms) on one device from measured examples.

    Subclasses set ``kind`` (the registry name), store their parameters in ``__init__`` under
    the same names (so ``get_params`` rebuilds them), and implement ``fit``, ``predict``,
    ``state`` (the fitted figures, JSON-able) and ``set_state``.
    """

    kind: ClassVar[str]

    @abstractmethod
    def fit(self, nets: Sequence[Net], latency_ms: np.ndarray) -> Self: ...

    @abstractmethod
    def predict(self, nets: Sequence[Net]) -> np.ndarray: ...

    @abstractmethod
    def state(self) -> dict[str, Any]: ...

    @abstractmethod
    def set_state(self, state: dict[str, Any]) -> None: ...

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (scikit-learn's convention: stored under their own names)."""
        import inspect

        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {n: getattr(self, n) for n in names}

    @staticmethod
    def _check_xy(nets: Sequence[Net], latency_ms: np.ndarray) -> np.ndarray:
        y = np.asarray(latency_ms, dtype=float)
        if len(nets) != len(y):
            raise InvalidInputError(f"{len(nets)} networks but {len(y)} latencies")
        if len(y) < 2:
            raise InvalidInputError(f"a latency predictor needs at least 2 measured networks, got {len(y)}")
        if not np.all(np.isfinite(y)) or np.any(y <= 0):
            raise InvalidInputError("latencies must be positive finite milliseconds")
        return y

    def _check_fitted(self, fitted: object) -> None:
        if fitted is None:
            raise InvalidInputError(f"the {self.kind} predictor is not fitted: call fit() first")


def save(path: Path, predictor: LatencyPredictor, info: dict[str, Any] | None = None) -> None:
    """Write ``predictor`` (kind, parameters, fitted state) and ``info`` (space, device, training keys...) as JSON."""
    record = {
        "format": FILE_FORMAT,
        "version": FILE_VERSION,
        "kind": predictor.kind,
        "params": predictor.get_params(),
        "info": info or {},
        "state": predictor.state(),
    }
    record["state_sha256"] = state_digest(record["state"])
    write_text(path, json.dumps(record, separators=(",", ":")) + "\n")


def state_digest(state: Any) -> str:
    """SHA-256 of a fitted state's canonical JSON: a damaged state is caught before a native
    library (LightGBM aborts the process on some corrupt models) is handed it."""
    return hashlib.sha256(json.dumps(state, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _holds_native_model(state: Any) -> bool:
    """Whether a state carries a model a native library parses (a LightGBM model string)."""
    if isinstance(state, dict):
        return "lightgbm_model" in state or any(_holds_native_model(v) for v in state.values())
    if isinstance(state, list):
        return any(_holds_native_model(v) for v in state)
    return False


def load(path: Path) -> tuple[LatencyPredictor, dict[str, Any]]:
    """Read a predictor file written by :func:`save`: ``(predictor, info)``.

    A predictor file is data from elsewhere: every field is checked before it is used, and a
    malformed one is an :class:`InvalidInputError` naming the file and the field, never quoting
    what the file holds. ``info`` is returned as recorded: its paths are for people to read, and
    nothing here opens them.
    """
    record = _read_record(Path(path))
    kind, params, state, info = (record.get(k) for k in ("kind", "params", "state", "info"))
    from edgenas.hardware.latency import PREDICTORS

    if not isinstance(kind, str) or kind not in PREDICTORS.names():
        raise InvalidInputError(f"{path}: field kind is not a predictor kind ({', '.join(PREDICTORS.names())}); {_REFIT}")
    for name, value, optional in (("params", params, True), ("state", state, False), ("info", info, True)):
        if not isinstance(value, dict) and not (optional and value is None):
            raise InvalidInputError(f"{path}: field {name} is not a JSON object; {_REFIT}")
    digest = record.get("state_sha256")
    if digest is None and _holds_native_model(state):
        raise InvalidInputError(f"{path}: its fitted model has no checksum (written by an older edgenas); {_REFIT}")
    if digest is not None and digest != state_digest(state):
        raise InvalidInputError(f"{path} is damaged: its fitted state does not match its checksum; {_REFIT}")
    try:
        predictor = PREDICTORS.create(kind, **(params or {}))
    except Exception:  # whatever a constructor makes of crafted parameters, the file is at fault
        raise InvalidInputError(f"{path}: field params does not fit a {kind} predictor; {_REFIT}") from None
    try:
        predictor.set_state(dict(state or {}))
    except Exception:  # a missing figure, a list for a table, a corrupt LightGBM model: the file is at fault
        raise InvalidInputError(f"{path}: field state is not a fitted {kind} predictor's; {_REFIT}") from None
    try:
        predictor.predict([])  # parameters are checked where they are used: use them once, on nothing
    except Exception:
        raise InvalidInputError(f"{path}: fields params and state do not make a {kind} predictor; {_REFIT}") from None
    return predictor, dict(info or {})


_REFIT = "write one with `edgenas predictor fit`"


#: The largest predictor file read (a fitted LightGBM or MLP predictor is a few MB).
MAX_PREDICTOR_BYTES = 256 * 2**20


def _read_record(path: Path) -> dict[str, Any]:
    """The JSON object of a predictor file, its format and version checked."""
    if path.is_dir():
        raise InvalidInputError(f"predictor file {path} is a directory; pass the JSON file `edgenas predictor fit` wrote")
    if not path.is_file():
        raise MissingDataError(f"predictor file {path} not found")
    try:
        size = path.stat().st_size
        if size > MAX_PREDICTOR_BYTES:  # read whole below: bounded before it is
            raise InvalidInputError(
                f"predictor file {path} is {size:,} bytes; a predictor file is at most {MAX_PREDICTOR_BYTES:,} ({_REFIT})"
            )
        record = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInputError(f"cannot read predictor file {path}: {exc.strerror or type(exc).__name__}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise InvalidInputError(f"{path} is not a predictor file (not JSON; {_REFIT})") from None
    if not isinstance(record, dict) or record.get("format") != FILE_FORMAT:
        raise InvalidInputError(f"{path} is not a predictor file (no format {FILE_FORMAT!r}; {_REFIT})")
    if record.get("version") != FILE_VERSION or isinstance(record.get("version"), bool):
        raise InvalidInputError(f"{path}: this predictor file's version is not supported (expected {FILE_VERSION}); {_REFIT}")
    return record
