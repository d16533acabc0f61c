"""``edgenas search --latency compiled --compiler tvm --compiler-choices ...``: architecture and
compiler choices searched together.

The joint space passes the space contract and splits its genes into the network's and the
compiler's; a tiny joint search compiles each pair with its choices, evaluates each network
once (two pairs of one network share its score), resumes without evaluating or compiling again;
bad inputs are one line. Skipped where the ``tvm`` extra is absent. The search draws its
networks from a pool of two (so pairs of one network are certain) and compiles with TVM's
default schedules: well under a minute on two shared cores.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tvm")

from edgenas.arch import Arch  # noqa: E402
from edgenas.compile.search_latency import CompiledLatency  # noqa: E402
from edgenas.errors import InvalidInputError  # noqa: E402
from edgenas.evaluators.shared import SHARED_ACCURACY_FILE, SharedAccuracy  # noqa: E402
from edgenas.evaluators.zerocost import ZeroCostEvaluator  # noqa: E402
from edgenas.spaces import SPACES, CompilerJointSpace, MbconvSpace, rebuild_space  # noqa: E402
from edgenas.spaces.compiler import JOINT_SPACE, parse_choices  # noqa: E402
from edgenas.testing import check_space  # noqa: E402
from edgenas.trial import Metrics, TrialState  # noqa: E402
from edgenas.workflows.search import SearchConfig, run_search  # noqa: E402
from tests.cli.test_cli import assert_one_line_error  # noqa: E402
from tests.compile.searches import cli, compiled_search  # noqa: E402


def _inner() -> MbconvSpace:
    return MbconvSpace(num_classes=3, in_channels=1, resolutions=(8,), vocabulary="micro")


def test_the_joint_space_keeps_the_space_contract_and_rebuilds_from_its_params():
    space = CompilerJointSpace(_inner(), ("layout", "fusion", "trials"))
    check_space(space, samples=20)
    stored = json.loads(json.dumps(space.params()))  # what a run folder and a checkpoint keep
    rebuilt = rebuild_space(space.name, stored)
    assert rebuilt.params() == space.params() and rebuilt.decisions() == space.decisions()
    arguments = {k: tuple(v) if isinstance(v, list) else v for k, v in stored.items()}
    assert SPACES.create(space.preset, **arguments).params() == stored
    assert [d.name for d in space.decisions()][-3:] == ["tvm.layout", "tvm.fusion", "tvm.trials"]


def test_genes_split_into_the_network_and_the_compiler_choices():
    inner = _inner()
    space = CompilerJointSpace(inner, ("layout", "opt-level"))
    network = inner.sample(np.random.default_rng(3))
    arch = space.arch((*network.genes, 1, 2))
    assert arch.space == JOINT_SPACE and space.inner_arch(arch) == network
    assert space.compiler_values(arch) == {"layout": "NHWC", "opt-level": 1}
    assert space.layers(arch) == inner.layers(network)
    assert space.input_shape(arch) == inner.input_shape(network)
    assert space.describe(arch) == f"{inner.describe(network)} | tvm: layout NHWC, opt-level 1"
    assert space.joint(network) != arch and space.inner_arch(space.joint(network)) == network  # defaults: genes 0
    reference = space.reference()
    assert reference is not None and space.compiler_values(reference[1]) == {"layout": "NCHW", "opt-level": 3}
    with pytest.raises(InvalidInputError, match="out of range for decision 'tvm.layout'"):
        space.arch((*network.genes, 2, 0))
    other = space.arch((*network.genes, 0, 2))
    assert other.key() != arch.key()  # the pair is the identity, so caches by key keep both


def test_a_checkpoint_of_a_pair_rebuilds_its_network(tmp_path):
    from edgenas.export.checkpoint import load_checkpoint, save_checkpoint

    space = CompilerJointSpace(_inner(), ("layout", "trials"))
    arch = space.sample(np.random.default_rng(2))
    module = space.build(arch)
    save_checkpoint(tmp_path / "model.pt", module, arch, space.params(), ["a", "b", "c"], np.zeros(1), np.ones(1))
    loaded = load_checkpoint(tmp_path / "model.pt")
    assert loaded.arch == arch and loaded.space.params() == space.params()
    assert loaded.space.describe(arch) == space.describe(arch)


def test_shared_accuracy_evaluates_each_network_once(tmp_path):
    space = CompilerJointSpace(_inner(), ("fusion",))
    network = space.inner.sample(np.random.default_rng(0))
    calls: list[Arch] = []

    class Counting:
        name = "counting"

        def evaluate(self, arch: Arch, *, budget: float = 1.0) -> Metrics:
            calls.append(arch)
            return Metrics(0.5, {"train_s": 1.0})

    shared = SharedAccuracy(Counting(), space, tmp_path / SHARED_ACCURACY_FILE)
    first = shared.evaluate(space.joint(network, (0,)))
    second = shared.evaluate(space.joint(network, (1,)))
    assert calls == [network] and first.accuracy == second.accuracy == 0.5
    assert "accuracy_shared" not in first.extra and second.extra["accuracy_shared"] == 1.0
    again = SharedAccuracy(Counting(), space, tmp_path / SHARED_ACCURACY_FILE)  # a resumed search
    assert again.evaluate(space.joint(network, (1,))).accuracy == 0.5 and calls == [network]


# -- a tiny joint search ---------------------------------------------------------------------------
def _config(root: Path, **options: object) -> SearchConfig:
    return compiled_search(root, **{"budget": 4, "flash_kb": None, "compiler_choices": "fusion,opt-level", **options})


def _two_networks(self: CompilerJointSpace, rng: np.random.Generator) -> Arch:
    """The joint space's sampling, its networks drawn from a pool of two: pairs of one network are certain."""
    pool = [self.inner.sample(np.random.default_rng(seed)) for seed in (0, 1)]
    network = pool[int(rng.integers(len(pool)))]
    return self.joint(network, [int(rng.integers(len(d.choices))) for d in self.decisions()[len(network.genes) :]])


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    root = tmp_path_factory.mktemp("joint")
    evaluated: list[Arch] = []
    original = ZeroCostEvaluator.evaluate

    def counted(self, arch, *, budget=1.0):  # type: ignore[no-untyped-def]
        evaluated.append(arch)
        return original(self, arch, budget=budget)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CompilerJointSpace, "sample", _two_networks)
        patch.setattr(ZeroCostEvaluator, "evaluate", counted)
        outcome = run_search(_config(root))
        yield root, outcome, evaluated, patch


def test_a_joint_search_compiles_each_pair_and_scores_each_network_once(searched):
    root, outcome, evaluated, _ = searched
    space = CompilerJointSpace(_inner(), ("fusion", "opt-level"))
    trials = [t for t in outcome.trials if t.state is TrialState.COMPLETE]
    assert all(t.arch.space == JOINT_SPACE for t in trials)
    networks = [t.arch.genes[: len(space.inner.decisions())] for t in trials]
    assert len(set(networks)) < len(networks), "the pool of two networks gives pairs of one network"
    assert all(a.space != JOINT_SPACE for a in evaluated)  # the evaluator sees networks, never pairs
    assert len(evaluated) == len({a.key() for a in evaluated}) == len(set(networks))
    shared = [t for t in trials if t.metrics is not None and t.metrics.extra.get("accuracy_shared") == 1.0]
    assert len(shared) == len(trials) - len(set(networks))
    cache = json.loads((root / "run" / "compiled_latency.json").read_text())
    assert "compiler choices searched: fusion, opt-level" in cache["backend"]
    assert {t.arch.key() for t in trials} <= set(cache["latency_ms_by_arch"])  # each pair compiled and timed
    best = outcome.summary["best"]
    assert best["sources"]["latency_ms"] == "measured" and "| tvm: fusion " in best["description"]
    assert "| tvm: fusion " in json.loads((root / "run" / "report.json").read_text())["best"]["description"]


def test_a_resumed_joint_search_neither_evaluates_nor_compiles_again(searched, monkeypatch):
    root, _, evaluated, _ = searched
    before = dict(json.loads((root / "run" / "compiled_latency.json").read_text())["latency_ms_by_arch"])
    networks_before = {a.key() for a in evaluated}
    original = CompiledLatency.measure

    def measured(self, arch):  # type: ignore[no-untyped-def]
        assert arch.key() not in before, f"{arch.key()} compiled again"
        return original(self, arch)

    monkeypatch.setattr(CompiledLatency, "measure", measured)
    outcome = run_search(_config(root, resume=True, budget=5))
    trials = [t for t in outcome.trials if t.role == "search" and t.state is TrialState.COMPLETE]
    assert len(trials) == 5
    assert len(evaluated) == len({a.key() for a in evaluated}) >= len(networks_before)  # no network evaluated twice


# -- bad input -------------------------------------------------------------------------------------
def test_parse_choices_names_the_known_ones():
    assert parse_choices("layout, fusion") == ("layout", "fusion")
    with pytest.raises(InvalidInputError, match="no choice 'tiling'; known: layout, fusion, opt-level, trials"):
        parse_choices("layout,tiling")
    with pytest.raises(InvalidInputError, match="names layout twice"):
        parse_choices("layout,fusion,layout")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--latency", "compiled", "--compiler", "tvm", "--compiler-choices", "layout,tiling"], ["'tiling'", "known: layout"]),
        (["--latency", "compiled", "--compiler", "tvm", "--compiler-choices", "fusion,fusion"], ["fusion twice"]),
        (["--compiler-choices", "layout"], ["--compiler-choices goes with --latency compiled"]),
        (
            ["--latency", "compiled", "--compiler", "tvm", "--compiler-choices", "trials", "--tune-trials-per-candidate", "4"],
            ["drop --tune-trials-per-candidate"],
        ),
    ],
)
def test_bad_compiler_choices_are_one_line(tmp_path, capsys, args, fragments):
    code, err = cli(capsys, "search", "--target", "host", *args, "--out", str(tmp_path / "r"))
    assert_one_line_error(subprocess.CompletedProcess([], code, "", err), *fragments)
