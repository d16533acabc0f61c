import pytest

from edgenas.arch import Arch, Decision
from edgenas.errors import InvalidInputError, UnknownNameError
from edgenas.registry import Registry
from edgenas.strategies import STRATEGIES


def test_arch_key_is_stable_and_round_trips():
    arch = Arch("kws", (0, 4, 0, 0, 3))
    assert arch.key() == Arch("kws", (0, 4, 0, 0, 3)).key()
    assert arch.key() != Arch("kws", (0, 4, 0, 0, 2)).key()
    assert arch.key() != Arch("other", (0, 4, 0, 0, 3)).key()
    assert Arch.from_dict(arch.to_dict()) == arch
    # sha1-based: the same in every process (unlike hash()).
    assert arch.key() == "e8ed0521cb63a8e6"
    assert len(arch.key()) == 16


def test_decision_needs_choices():
    with pytest.raises(ValueError):
        Decision("x", ())


def test_registry_suggests_close_names_and_rejects_duplicates():
    reg: Registry[object] = Registry("widget")
    reg.add("evolution", object)
    with pytest.raises(UnknownNameError, match="Did you mean 'evolution'.*Accepted: evolution"):
        reg.get("evolutoin")
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("evolution", object)
    assert isinstance(UnknownNameError("x"), InvalidInputError)


def test_builtin_strategies_registered():
    assert {"random", "evolution"} <= set(STRATEGIES.names())
