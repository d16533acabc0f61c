"""The parts of a search, assembled by name from the registries: strategy, evaluator, cost.

``--strategy`` names a registered ask/tell strategy (``STRATEGIES``) or ``differentiable``;
``--evaluator`` names a registered evaluator (``EVALUATORS``: ``train``, ``supernet``,
``zerocost:<proxy>``, plug-ins) or the composition ``prefilter:<proxy|supernet>[:<pool>]``: the
strategy first searches a pool of ``pool`` feasible candidates (default ``10 x --budget``)
scored by the proxy, and the ``--budget`` best of them are then trained (``workflows/prefilter.py``).
Nothing here branches on a space's class: what a space needs it says itself.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgenas.errors import InvalidInputError, UnknownNameError
from edgenas.evaluators import EVALUATORS, EvaluatorContext
from edgenas.executors import Executor, SerialExecutor
from edgenas.experiment import CostFunction, layers_cost
from edgenas.files import write_bytes

if TYPE_CHECKING:
    from edgenas.compile.feedback import FeedbackOptions
    from edgenas.compile.search_latency import CompiledOptions
    from edgenas.evaluators import Evaluator
    from edgenas.hardware import Target
    from edgenas.spaces import SearchSpace
    from edgenas.store import RunFolder
    from edgenas.workflows.config import SearchConfig

#: ``--strategy differentiable``: the supernet search, not an ask/tell strategy (what it derives
#: enters the loop like any other candidate).
DIFFERENTIABLE = "differentiable"
#: ``prefilter:`` scores a pool with a proxy and trains its favourites.
PREFILTER = "prefilter"
#: ``prefilter:supernet``: the supernet's inherited-weight score, not a zero-cost proxy.
SUPERNET = "supernet"
#: prefilter: candidates scored per candidate trained, unless the spec says.
POOL_FACTOR = 10


@dataclass(frozen=True)
class EvaluatorSpec:
    """A parsed ``--evaluator`` value: a registered evaluator and its argument, or ``prefilter``
    with the proxy that scores its pool (``proxy``) and the pool's size."""

    kind: str
    proxy: str | None = None
    pool: int | None = None  # prefilter only; None: POOL_FACTOR x budget

    def pool_size(self, budget: int) -> int:
        return self.pool if self.pool is not None else POOL_FACTOR * budget

    @property
    def scorer(self) -> EvaluatorSpec:
        """What scores candidates during the search: the prefilter's proxy, or the evaluator itself."""
        if self.kind != PREFILTER:
            return self
        return EvaluatorSpec(SUPERNET) if self.proxy == SUPERNET else EvaluatorSpec("zerocost", self.proxy)


def evaluator_help() -> str:
    """``--evaluator``'s help, from the registry."""
    from edgenas.evaluators.zerocost import PROXIES

    return (
        f"{EVALUATORS.help()}; or prefilter:<proxy|supernet>[:<pool>] (train the proxy's favourites of a pool). "
        f"Proxies: {', '.join(PROXIES.names())}"
    )


def parse_evaluator(text: str) -> EvaluatorSpec:
    """``train``, ``supernet``, ``zerocost:<proxy>``, ``prefilter:<proxy|supernet>[:<pool>]`` or a plug-in's
    ``name[:argument]``; bad text -> one clear error naming what is accepted.

    Example::

        >>> parse_evaluator("prefilter:naswot:300")
        EvaluatorSpec(kind='prefilter', proxy='naswot', pool=300)
    """
    from edgenas.evaluators.zerocost import PROXIES

    kind, _, rest = text.partition(":")
    if kind != PREFILTER and kind not in EVALUATORS:
        accepted = [n + (":<proxy>" if n == "zerocost" else "") for n in EVALUATORS.names()]
        close = difflib.get_close_matches(kind, [*EVALUATORS.names(), PREFILTER], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InvalidInputError(
            f"unknown evaluator {text!r}.{hint} Accepted: {', '.join(accepted)}, prefilter:<proxy>[:<pool>] "
            f"with <proxy> one of {', '.join(PROXIES.names())} (prefilter: or {SUPERNET})."
        )
    if kind in ("train", "supernet"):
        if rest:
            raise InvalidInputError(f"--evaluator {kind} takes no ':' argument, got {text!r}")
        return EvaluatorSpec(kind)
    if kind not in ("zerocost", PREFILTER):  # a plug-in: its factory checks its argument
        return EvaluatorSpec(kind, rest or None)
    proxy, _, pool_text = rest.partition(":")
    if not proxy:
        raise InvalidInputError(f"--evaluator {kind} needs a proxy: {kind}:<proxy>, one of {', '.join(PROXIES.names())}")
    if proxy == SUPERNET and kind == "zerocost":
        raise InvalidInputError(
            "the supernet is trained, not a zero-cost proxy: use --evaluator supernet, or prefilter:supernet[:<pool>] "
            "to train the supernet's favourites"
        )
    if proxy != SUPERNET:
        try:
            PROXIES.get(proxy)  # unknown name -> "unknown zero-cost proxy ... Accepted: ..."
        except UnknownNameError as exc:
            if kind == PREFILTER:  # the pool may also be scored by the supernet
                raise UnknownNameError(f"{exc} prefilter: also accepts {SUPERNET}.") from None
            raise
    if kind == "zerocost":
        if pool_text:
            raise InvalidInputError(f"--evaluator zerocost:<proxy> takes no pool size, got {text!r} (see prefilter:)")
        return EvaluatorSpec("zerocost", proxy)
    pool = None
    if pool_text:
        try:
            pool = int(pool_text)
        except ValueError:
            raise InvalidInputError(f"--evaluator {text!r}: the pool size {pool_text!r} is not a whole number") from None
        if pool < 1:
            raise InvalidInputError(f"--evaluator {text!r}: the pool size must be positive")
    return EvaluatorSpec(PREFILTER, proxy, pool)


def make_evaluator(spec: EvaluatorSpec, context: EvaluatorContext) -> Evaluator:
    """The evaluator ``spec`` names (for ``prefilter``: its proxy's), built by its registered factory."""
    scorer = spec.scorer
    from edgenas.spaces.compiler import CompilerJointSpace

    if isinstance(context.space, CompilerJointSpace):  # each network evaluated once, shared by its compiler choices
        import dataclasses

        from edgenas.evaluators.shared import SHARED_ACCURACY_FILE, SharedAccuracy

        inner = dataclasses.replace(context, space=context.space.inner)
        evaluator = EVALUATORS.get(scorer.kind)(inner, scorer.proxy)
        return SharedAccuracy(evaluator, context.space, None if context.run is None else context.run.path / SHARED_ACCURACY_FILE)
    return EVALUATORS.get(scorer.kind)(context, scorer.proxy)


def strategy_names() -> list[str]:
    """What ``--strategy`` accepts: every registered ask/tell strategy and ``differentiable``."""
    from edgenas.strategies import STRATEGIES

    return [*STRATEGIES.names(), DIFFERENTIABLE]


def check_strategy(name: str) -> None:
    """An unknown ``--strategy`` is one error naming every accepted one (``differentiable`` included)."""
    names = strategy_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownNameError(f"unknown strategy {name!r}.{hint} Accepted: {', '.join(names)}.")


def check_population(strategy: str, population: int) -> None:
    """``--population`` is for strategies that keep one (evolution, nsga2), at least their sample size and 2."""
    import inspect

    from edgenas.strategies import STRATEGIES

    if isinstance(population, bool) or not isinstance(population, int) or not 2 <= population <= 100_000:
        raise InvalidInputError(f"--population must be a whole number from 2 to 100,000, got {population!r}")
    keeps = [n for n in STRATEGIES.names() if "population_size" in inspect.signature(STRATEGIES.get(n)).parameters]
    if strategy not in keeps:
        raise InvalidInputError(f"--population sets the population of {', '.join(keeps)}; --strategy {strategy} keeps none")
    sample = inspect.signature(STRATEGIES.get(strategy)).parameters.get("sample_size")
    if sample is not None and isinstance(sample.default, int) and population < sample.default:
        raise InvalidInputError(
            f"--population {population}: {strategy} draws a tournament of {sample.default} from its population; "
            "give at least that"
        )


def strategy_help() -> str:
    """``--strategy``'s help, from the registry."""
    from edgenas.strategies import STRATEGIES

    return f"{STRATEGIES.help()}, {DIFFERENTIABLE} (a Gumbel-softmax supernet with a latency loss; docs/differentiable.md)"


def make_strategy(name: str, space: SearchSpace, seed: int) -> Any:
    """A fresh ask/tell strategy (resume replays the store into it)."""
    from edgenas.strategies import STRATEGIES

    if name == DIFFERENTIABLE:
        raise InvalidInputError("--strategy differentiable is not an ask/tell strategy: run it through run_search")
    return STRATEGIES.create(name, space=space, seed=seed)


def make_cost(
    space: SearchSpace,
    target: Target,
    latency: str,
    run: RunFolder,
    agent: str | None = None,
    agent_token_file: Path | None = None,
    predictor: Path | None = None,
    agent_runtime: str = "onnxruntime",
    compiled: CompiledOptions | None = None,
    feedback: FeedbackOptions | None = None,
) -> CostFunction:
    """The analytical cost of ``space`` on ``target``; with ``latency="measured"``, its latency
    timed on this machine, or on the device of the agent at ``agent`` (with ``agent_runtime``,
    cached in the run folder); with ``latency="compiled"``, timed on the candidate's build by
    ``compiled``'s compiler (by default the options of the run's ``config.yaml``), here or on the
    ``agent``'s device; with ``feedback``
    too, priced by a latency model that the tuned builds of each round's finalists refit."""
    from edgenas.hardware import AnalyticalCostModel

    cost = layers_cost(space, AnalyticalCostModel(), target)
    if latency == "predicted":
        import numpy as np

        from edgenas.hardware.latency.predicted import PredictedLatency

        assert predictor is not None  # SearchConfig.validate
        rng = np.random.default_rng(0)
        probe = [space.sample(rng) for _ in range(4)]
        predicted = PredictedLatency.from_file(predictor, space, cost, probe)
        write_bytes(run.latency_predictor, predictor.read_bytes())  # the run keeps what it was ranked by
        return predicted
    if latency == "measured" and agent is not None:
        from edgenas.agent.auth import read_token_file
        from edgenas.agent.client import AgentClient
        from edgenas.agent.loop import AgentLatency

        assert agent_token_file is not None  # SearchConfig.validate
        client = AgentClient(agent, read_token_file(agent_token_file))
        measured = AgentLatency(space, cost, client, run.measured_latency, runtime=agent_runtime)
        measured.device  # noqa: B018  (asked now: an agent that does not answer stops the search before it starts)
        return measured
    if latency == "compiled":
        from edgenas.compile.search_latency import CompiledLatency, CompiledOptions
        from edgenas.compile.target import parse_target

        options = compiled or CompiledOptions.of_file(run.config_file)  # written before the loop starts
        folder = run.path / "compiled" / str(options.compiler) / parse_target(options.target).slug
        if feedback is not None:  # only the finalists are compiled, tuned, into their own cache
            import dataclasses

            from edgenas.compile.feedback import FeedbackLatency

            tuned = dataclasses.replace(options, trials_per_candidate=feedback.tune_trials)
            meter = CompiledLatency(space, cost, tuned, folder / "feedback_latency.json", folder)
            return FeedbackLatency(cost, meter, feedback, folder / "feedback.json", target.name)
        remote = None
        if agent is not None:  # built here, timed on the agent's device (asked now: before any training)
            from edgenas.agent.auth import read_token_file
            from edgenas.agent.client import AgentClient
            from edgenas.agent.compiled import agent_timer, check_agent_runs_tvm, check_builds_for_agent

            assert agent_token_file is not None  # SearchConfig.validate
            client = AgentClient(agent, read_token_file(agent_token_file))
            info = check_agent_runs_tvm(client)
            check_builds_for_agent(options.target, info)
            remote = agent_timer(client, info)
        return CompiledLatency(space, cost, options, run.compiled_latency, folder, remote=remote)
    if latency == "measured":
        if target.name.split(":")[0] != "host":
            raise InvalidInputError(f"--latency measured times candidates on this machine: use --target host, not {target.name}")
        from edgenas.measure.loop import MeasuredLatency

        cost = MeasuredLatency(space, cost, run.measured_latency)
    return cost


def make_executor(evaluator: Evaluator, config: SearchConfig) -> Executor:
    """Where candidates are evaluated: this process, ``--workers`` local processes, or Ray tasks."""
    if config.executor == "ray":
        from edgenas.executors.cluster import RayExecutor

        return RayExecutor(
            evaluator, config.ray_address, config.cpus_per_trial, config.gpus_per_trial, threads=config.threads,
            timeout_s=config.max_trial_seconds,
        )  # fmt: skip
    if config.workers == 1:
        return SerialExecutor(evaluator)
    from edgenas.executors.local import LocalExecutor

    return LocalExecutor(evaluator, config.workers, threads=config.threads, timeout_s=config.max_trial_seconds)
