"""Compile a model with an ML compiler (Apache TVM) and measure what the compiler changes.

One module per job: :mod:`.target` reads a target string and decides whether it runs here,
:mod:`.tvm` imports, builds, exports and times a model with TVM, :mod:`.tuning` runs
MetaSchedule, :mod:`.driver` ties them into ``edgenas compile`` (:func:`compile_model`), and
:mod:`.base` holds the records. TVM is an optional extra (``pip install 'edgenas[tvm]'``):
nothing here imports it until a model is compiled.
"""

from __future__ import annotations

from edgenas.compile.base import DEFAULT_TUNE_TRIALS, CompileResult, TuningOutcome
from edgenas.compile.driver import compile_model, resolve_model

__all__ = ["DEFAULT_TUNE_TRIALS", "CompileResult", "TuningOutcome", "compile_model", "resolve_model"]
