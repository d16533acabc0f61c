"""Search strategies, by name. Each factory takes ``space``, ``seed`` and its own parameters.

Third-party strategies join through the ``edgenas.strategies`` entry-point group;
``edgenas.testing.check_strategy`` is the contract they must pass (same seed, same search; a
fresh strategy told the stored trials asks the same next architecture).
"""

from __future__ import annotations

from edgenas.registry import Registry
from edgenas.strategies.base import Strategy
from edgenas.strategies.evolution import RegularizedEvolution
from edgenas.strategies.local import LocalSearch
from edgenas.strategies.optuna import Nsga2Strategy, TpeStrategy
from edgenas.strategies.predictor import PredictorSearch
from edgenas.strategies.random import RandomSearch
from edgenas.strategies.rl import ReinforceController

STRATEGIES: Registry[Strategy] = Registry("strategy", entry_points="edgenas.strategies")
STRATEGIES.add("random", RandomSearch, help="uniform sampling")
STRATEGIES.add("evolution", RegularizedEvolution, help="regularized (aging) evolution")
STRATEGIES.add("local", LocalSearch, help="hill climbing with restarts")
STRATEGIES.add("rl", ReinforceController, help="REINFORCE controller with MnasNet's reward")
STRATEGIES.add("tpe", TpeStrategy, help="Optuna's TPE")  # Optuna is imported on first ask/tell, not here
STRATEGIES.add("nsga2", Nsga2Strategy, help="Optuna's NSGA-II, accuracy against latency")
STRATEGIES.add("predictor", PredictorSearch, help="an accuracy-predictor ensemble picks the next candidate (BANANAS)")

__all__ = ["STRATEGIES", "RandomSearch", "RegularizedEvolution", "Strategy"]
