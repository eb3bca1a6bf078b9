"""Search ranges declared beside an option's type and limits (``Annotated[..., Search(...)]``)."""

from __future__ import annotations

import textwrap
from typing import Annotated, Literal

import pytest
from annotated_types import Ge, Gt, Lt

from itr_bench import Search
from itr_bench.options import from_callable, read_source
from itr_bench.plugins import get_plugin_manager, load_registry


class Circle:
    """Args:
        margin: relaxation.
        gamma: scale.
        form: which.
    """

    def __init__(self, context, *, margin: Annotated[float, Ge(0), Lt(1), Search(0.1, 0.4)] = 0.25,
                 gamma: Annotated[float, Gt(0), Search(8.0, 256.0, log=True)] = 64.0,
                 form: Annotated[Literal["a", "b"], Search(choices=("a", "b"))] = "a", plain: float = 1.0):
        pass


def test_search_read_from_the_signature_with_its_limits():
    options = from_callable(Circle, skip=1)
    assert options.get("margin").search == Search(0.1, 0.4)
    assert options.get("gamma").search == Search(8.0, 256.0, log=True)
    assert options.get("form").search.choices == ("a", "b")
    assert options.get("plain").search is None
    assert options.get("margin").type_text == "float in [0, 1)"  # the marker is not a limit
    assert options.get("gamma").as_dict()["search"] == "[8, 256] log"
    assert all(o.search.problem(o) is None for o in options if o.search is not None)


def test_search_read_from_source_equals_the_imported_one(tmp_path, monkeypatch):
    (tmp_path / "circle_mod.py").write_text(textwrap.dedent('''
        from typing import Annotated
        from annotated_types import Gt
        from itr_bench import Search

        def circle(context, *, gamma: Annotated[float, Gt(0), Search(8.0, 256.0, log=True)] = 64.0):
            """Args:
                gamma: scale.
            """
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    options, _ = read_source("circle_mod:circle", skip=1)
    assert options.get("gamma").search == Search(8.0, 256.0, log=True)


@pytest.mark.parametrize("search, words", [
    (Search(-0.1, 0.4), "outside the option's declared range"),
    (Search(0.1, 1.5), "outside the option's declared range"),
    (Search(0.4, 0.1), "must be below high"),
    (Search(0.0, 0.5, log=True), "log range needs bounds > 0"),
    (Search(float("nan"), 0.5), "finite numbers"),
])
def test_a_search_range_the_option_cannot_take_is_named(search, words):
    margin = from_callable(Circle, skip=1).get("margin")
    assert words in search.problem(margin)


def test_a_choice_of_the_wrong_type_is_named():
    form = from_callable(Circle, skip=1).get("form")
    assert "search choice 'c'" in Search(choices=("a", "c")).problem(form)


def test_every_builtin_loss_search_range_lies_within_its_declared_limits():
    registry = load_registry(get_plugin_manager())
    searched = {}
    for info in registry.list("loss"):
        for option in info.options:
            if option.search is not None:
                assert option.search.problem(option) is None, (info.name, option.name)
                searched[(info.name, option.name)] = option.search
    assert {("infonce", "temperature"), ("siglip", "scale"), ("siglip", "bias"), ("cmpm", "epsilon"),
            ("cmpc", "label_smoothing"), ("triplet", "margin"), ("ranking", "margin")} <= set(searched)
