"""The space contract, run over every registered space (plug-ins installed in the environment too).

A new space is covered by being registered: sampling and mutation give valid, normalised
genotypes with pure ``layers()`` (``edgenas.testing.check_space``), and the space describes itself
well enough to be rebuilt from a run folder: ``params()`` survives JSON, ``preset`` is a name
``--space`` accepts, ``reference()`` is a point of the space, and ``for_task`` builds it for at
least one kind of task data or says why not.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.spaces import SPACES, rebuild_space, space_names
from edgenas.testing import check_space

#: Task data shapes edgenas ships: MFCC maps, grey images, RGB images at CIFAR size.
TASK_SHAPES = ((49, 10), (1, 28, 28), (3, 32, 32))


@pytest.fixture(params=SPACES.names(sort=False))
def space(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return SPACES.create(request.param)


def test_the_contract_holds(space) -> None:  # type: ignore[no-untyped-def]
    check_space(space, samples=20)


def test_params_rebuild_the_same_space_through_json(space) -> None:  # type: ignore[no-untyped-def]
    stored = json.loads(json.dumps(space.params()))  # what a run folder and a checkpoint keep
    rebuilt = rebuild_space(space.name, stored)
    assert rebuilt.params() == space.params() and rebuilt.decisions() == space.decisions()
    rng = np.random.default_rng(0)
    for _ in range(5):
        arch = space.sample(rng)
        assert rebuilt.layers(arch) == space.layers(arch) and rebuilt.describe(arch) == space.describe(arch)


def test_preset_is_a_space_option_that_builds_it_again(space) -> None:  # type: ignore[no-untyped-def]
    assert space.preset in space_names()
    again = SPACES.create(space.preset, **{k: tuple(v) if isinstance(v, list) else v for k, v in space.params().items()})
    assert again.params() == space.params()


def test_the_reference_network_is_a_point_of_the_space(space) -> None:  # type: ignore[no-untyped-def]
    reference = space.reference()
    if reference is None:
        return
    name, arch = reference
    assert isinstance(name, str) and name and isinstance(arch, Arch)
    assert space.arch(arch.genes) == arch and space.layers(arch)


def test_for_task_builds_the_space_for_some_task_data_or_says_why_not(space) -> None:  # type: ignore[no-untyped-def]
    built = []
    for shape in TASK_SHAPES:
        try:
            built.append(type(space).for_task(shape, 7))
        except InvalidInputError as exc:
            assert str(exc)  # a reason the user can read
    assert built, f"{space.name} accepts none of the task shapes {TASK_SHAPES}"
    for task_space in built:
        check_space(task_space, samples=5)
        assert task_space.params()["num_classes"] == 7
