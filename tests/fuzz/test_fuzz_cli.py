"""Fuzz every command: bad values for each option and crafted files where files are read.

The property, for every case: the exit code is 0, 1 or 2 (or the command accepted its input and
reached its heavy work, which the fuzz stops), no Python traceback escapes, and nothing is written
outside the case's folder. 150 seeded cases run here (about half a minute, in one worker process);
``benchmarks/fuzz.py --cases N --seed S`` runs more. See :mod:`tests.fuzz.runner` for how a case runs.

A traceback found in code this suite does not fix is listed in :data:`KNOWN_TRACEBACKS` with the
defect it belongs to; its case is ``xfail(strict=True)``, so fixing the defect turns it into an
unexpected pass that says to remove the entry.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.fuzz.generators import commands
from tests.fuzz.runner import REPO, Outcome, make_cases, run_all

SEED, CASES, TIMEOUT_S = 0, 150, 5.0
#: Cases (of SEED and CASES) whose traceback is a known defect, with where it is raised.
KNOWN_TRACEBACKS: dict[str, str] = {}
CASE_LIST = make_cases(SEED, CASES)
#: Top-level entries of the repository that may change while the suite runs (other work, caches).
_MOVING = ("edgenas/", "tests/", "benchmarks/", "docs/", ".pytest_cache", ".mypy_cache", ".ruff_cache", "__pycache__")


def _outside_entries() -> set[str]:
    """``git status`` of the repository, ignored files included, except sources and caches."""
    status = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=normal"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if status.returncode != 0:  # not a git checkout (an unpacked source tree): nothing to compare
        return set()
    return {line for line in status.stdout.splitlines() if not any(part in line for part in _MOVING)}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, Outcome]:
    before = _outside_entries()
    found = {o.id: o for o in run_all(SEED, CASES, tmp_path_factory.mktemp("fuzz"), timeout=TIMEOUT_S, budget_s=300)}
    found["__repository__"] = Outcome("__repository__", "", "", stray=sorted(_outside_entries() - before))
    return found


def _param(case):
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN_TRACEBACKS[case.id])] if case.id in KNOWN_TRACEBACKS else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(case) for case in CASE_LIST])
def test_no_traceback_and_a_known_exit_code(outcomes: dict[str, Outcome], case) -> None:
    outcome = outcomes[case.id]
    if outcome.skipped:
        pytest.skip(f"{case.command} {case.label}: {outcome.skipped}")
    what = f"edgenas {case.command} {' '.join(case.args)} ({case.label})"
    assert outcome.traceback is None, f"{what}: {outcome.traceback}"
    assert outcome.code in (0, 1, 2) or outcome.accepted, f"{what}: exit {outcome.code}"
    assert not outcome.stray, f"{what} wrote outside its working folder: {outcome.stray}"


def test_nothing_was_written_into_the_repository(outcomes: dict[str, Outcome]) -> None:
    assert not outcomes["__repository__"].stray


def test_the_cases_cover_every_command_and_are_reproducible() -> None:
    assert {case.command for case in CASE_LIST} == set(commands())
    assert make_cases(SEED, 20) == CASE_LIST[:20]
    assert set(KNOWN_TRACEBACKS) <= {case.id for case in CASE_LIST}
    kinds = {case.label.split(":")[0] for case in CASE_LIST if case.id.startswith("file-")}
    assert {"tflite", "onnx", "pt", "yaml", "csv", "wav", "png"} <= kinds
