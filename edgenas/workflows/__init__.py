"""The library side of each command: what ``edgenas search``, ``bench``, ``zoo``, ``export`` and
``predictor`` do, as functions a notebook or a benchmark can call. Each assembles the doors
(spaces, strategies, evaluators, cost models, the store) and runs them; the command line only
parses flags into their configurations and formats what they return."""
