"""Search strategies, by name. Each factory takes ``space``, ``seed`` and its own parameters."""

from __future__ import annotations

from edgenas.registry import Registry
from edgenas.strategies.base import Strategy
from edgenas.strategies.evolution import RegularizedEvolution
from edgenas.strategies.local import LocalSearch
from edgenas.strategies.optuna import Nsga2Strategy, TpeStrategy
from edgenas.strategies.predictor import PredictorSearch
from edgenas.strategies.random import RandomSearch
from edgenas.strategies.rl import ReinforceController

STRATEGIES: Registry[Strategy] = Registry("strategy")
STRATEGIES.add("random", RandomSearch)
STRATEGIES.add("evolution", RegularizedEvolution)
STRATEGIES.add("local", LocalSearch)
STRATEGIES.add("rl", ReinforceController)
STRATEGIES.add("tpe", TpeStrategy)  # Optuna is imported on first ask/tell, not here
STRATEGIES.add("nsga2", Nsga2Strategy)
STRATEGIES.add("predictor", PredictorSearch)

__all__ = ["STRATEGIES", "RandomSearch", "RegularizedEvolution", "Strategy"]
