"""A TVM target from the command line: parsed, named for a folder, and placed (here or elsewhere).

TVM 0.27 reads targets as JSON objects only (``{"kind": "llvm", "mcpu": "cortex-a72"}``); users
and older TVM docs write ``llvm -mcpu=cortex-a72``. Both forms are accepted and turned into the
object here, without TVM, so a typo is refused before TVM loads. Whether TVM knows every key is
checked by :func:`edgenas.compile.tvm.make_target`.
"""

from __future__ import annotations

import json
import platform
import re
import shlex
import shutil
from dataclasses import dataclass
from typing import Any

from edgenas.errors import InvalidInputError

#: Keys whose value TVM reads as a list (comma-separated on the command line).
_LIST_KEYS = frozenset({"mattr", "keys", "libs"})
#: ``platform.machine()`` names and the triple prefixes that run on them.
_HOST_ARCH = {"x86_64": ("x86_64",), "amd64": ("x86_64",), "aarch64": ("aarch64", "arm64"), "arm64": ("aarch64", "arm64")}

MICRO_NOTE = (
    "TVM 0.27 has no microTVM and no C runtime for microcontrollers, so edgenas cannot build for Cortex-M with it; "
    "use `edgenas export RUN --format firmware` (TFLite Micro) instead"
)


@dataclass(frozen=True)
class TargetSpec:
    """A target as written (``text``) and as TVM reads it (``config``)."""

    text: str
    config: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.config["kind"])

    @property
    def triple(self) -> str | None:
        value = self.config.get("mtriple")
        return None if value is None else str(value)

    @property
    def is_cross(self) -> bool:
        """A triple for another architecture than this host's: built here, run elsewhere."""
        if self.triple is None:
            return False
        prefixes = _HOST_ARCH.get(platform.machine().lower(), (platform.machine().lower(),))
        return not self.triple.startswith(prefixes)

    @property
    def slug(self) -> str:
        """A folder name for the target: ``llvm``, ``llvm-mcpu-cortex-a72-mtriple-aarch64-linux-gnu``."""
        parts = [self.kind]
        for key in sorted(k for k in self.config if k != "kind"):
            value = self.config[key]
            text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            parts += [key, text]
        return re.sub(r"[^A-Za-z0-9._]+", "-", "-".join(parts)).strip("-")[:120]

    def with_cores(self, threads: int) -> TargetSpec:
        """The target with ``num-cores`` set to the threads the build runs with (unless the user set it)."""
        if "num-cores" in self.config:
            return self
        return TargetSpec(self.text, {**self.config, "num-cores": threads})


def parse_target(text: str) -> TargetSpec:
    """``llvm -mcpu=cortex-a72 -mtriple=aarch64-linux-gnu`` (or the JSON object form) -> a :class:`TargetSpec`."""
    stripped = text.strip()
    if not stripped:
        raise InvalidInputError("--target: empty; give one such as 'llvm' or 'llvm -mcpu=skylake'")
    if stripped.startswith("{"):
        try:
            loaded = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"--target {text!r}: not valid JSON ({exc.msg})") from None
        if not isinstance(loaded, dict) or not isinstance(loaded.get("kind"), str):
            raise InvalidInputError(f'--target {text!r}: a JSON target is an object with a "kind", e.g. {{"kind": "llvm"}}')
        return _checked(TargetSpec(text, loaded))
    try:
        tokens = shlex.split(stripped)
    except ValueError as exc:
        raise InvalidInputError(f"--target {text!r}: {exc}") from None
    kind, options = tokens[0], tokens[1:]
    if kind.startswith("-"):
        raise InvalidInputError(f"--target {text!r}: start with the kind, e.g. 'llvm -mcpu=cortex-a72'")
    config: dict[str, Any] = {"kind": kind}
    for token in options:
        key, sep, value = token.lstrip("-").partition("=")
        if not token.startswith("-") or not sep or not key:
            raise InvalidInputError(f"--target {text!r}: expected -key=value after the kind, got {token!r}")
        config[key] = _value(key, value)
    return _checked(TargetSpec(text, config))


def _value(key: str, value: str) -> Any:
    if key in _LIST_KEYS:
        return [v for v in value.split(",") if v]
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    return value


def _checked(spec: TargetSpec) -> TargetSpec:
    """Refuse what TVM 0.27 cannot build for a CPU: microcontrollers, and kinds other than llvm."""
    mcpu = str(spec.config.get("mcpu", "")).lower()
    triple = (spec.triple or "").lower()
    if spec.kind == "c" or mcpu.startswith("cortex-m") or triple.startswith(("arm-none-eabi", "thumb")):
        raise InvalidInputError(f"--target {spec.text!r}: {MICRO_NOTE}")
    if spec.kind != "llvm":
        raise InvalidInputError(
            f"--target {spec.text!r}: edgenas compile builds for CPUs with TVM's llvm kind (got {spec.kind!r}), "
            "e.g. 'llvm' or 'llvm -mtriple=aarch64-linux-gnu -mcpu=cortex-a72'"
        )
    return spec


def cross_compiler(spec: TargetSpec) -> str:
    """The GNU C compiler that links a library for ``spec``'s triple (``aarch64-linux-gnu-gcc``), or one clear line."""
    triple = spec.triple or ""
    name = f"{triple}-gcc"
    path = shutil.which(name)
    if path is None:
        raise InvalidInputError(
            f"--target {spec.text!r}: linking a library for {triple} needs {name} on PATH "
            f"(Debian/Ubuntu: apt-get install gcc-{triple})"
        )
    return path
