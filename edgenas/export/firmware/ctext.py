"""C text for generated sources: float32 literals that read back bit for bit, escaped strings,
arrays laid out a few values per line."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

_PER_LINE = 8


def c_float(value: float) -> str:
    """``value`` as a C ``float`` literal that a compiler reads back as the same float32."""
    text = f"{float(np.float32(value)):.9g}"
    if not any(ch in text for ch in ".en"):
        text += ".0"
    return text + "f"


def c_string(text: str) -> str:
    """``text`` as a C string literal (UTF-8; anything but printable ASCII as octal escapes)."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in '"\\?':
            out.append("\\" + ch)
        elif 32 <= byte < 127:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def c_rows(values: Iterable[str], per_line: int = _PER_LINE) -> str:
    """Comma-separated values, ``per_line`` on each indented line."""
    items = list(values)
    return "\n".join("    " + ", ".join(items[i : i + per_line]) + "," for i in range(0, len(items), per_line))


def c_float_array(declaration: str, values: np.ndarray) -> str:
    """``declaration = { ... };`` of float32 literals."""
    return f"{declaration} = {{\n{c_rows(c_float(float(v)) for v in np.asarray(values, np.float32).ravel())}\n}};\n"


def c_int_array(declaration: str, values: Iterable[int], per_line: int = 12) -> str:
    """``declaration = { ... };`` of integers."""
    return f"{declaration} = {{\n{c_rows((str(int(v)) for v in values), per_line)}\n}};\n"
