"""Registry: names, owners, duplicates, unknown names, filtering."""

import pytest

from itr_bench.errors import DuplicateComponentError, RegistryError, UnknownComponentError
from itr_bench.registry import KIND_ALIASES, Registry, plural


def make(**kw):
    return Registry(("loss", "dataset"))


class Hinge:
    """A hinge loss.

    Longer text that is not the description.
    """


def test_register_and_get_keeps_owner_and_description():
    registry = make()
    info = registry.register("loss", "hinge", Hinge, plugin="mine", margin=0.2)
    assert registry.get("loss", "hinge") is info
    assert (info.plugin, info.description, info.metadata["margin"]) == ("mine", "A hinge loss.", 0.2)
    assert ("loss", "hinge") in registry and ("dataset", "hinge") not in registry


def test_info_is_frozen():
    info = make().register("loss", "hinge", Hinge, plugin="mine")
    with pytest.raises(AttributeError):
        info.name = "other"
    with pytest.raises(TypeError):
        info.metadata["x"] = 1


def test_duplicate_names_both_plugins():
    registry = make()
    registry.register("loss", "hinge", Hinge, plugin="first")
    with pytest.raises(DuplicateComponentError, match="'hinge' is registered by both 'first' and 'second'"):
        registry.register("loss", "hinge", Hinge, plugin="second")


def test_same_name_in_two_kinds_is_fine():
    registry = make()
    registry.register("loss", "x", Hinge, plugin="p")
    registry.register("dataset", "x", Hinge, plugin="p")
    assert len(registry) == 2


def test_unknown_name_suggests_close_names():
    registry = make()
    registry.register("loss", "infonce", Hinge, plugin="p")
    registry.register("loss", "siglip", Hinge, plugin="p")
    with pytest.raises(UnknownComponentError, match=r"unknown loss 'infonse': did you mean 'infonce'\?"):
        registry.get("loss", "infonse")
    with pytest.raises(UnknownComponentError, match="available: infonce, siglip"):
        registry.get("loss", "zzz")


def test_unknown_name_is_a_key_error_with_a_readable_message():
    with pytest.raises(KeyError) as excinfo:
        make().get("loss", "nope")
    assert str(excinfo.value) == "unknown loss 'nope': none are registered"


@pytest.mark.parametrize("bad", ["", "Upper", "with space", "-lead", 3, None])
def test_bad_names_rejected(bad):
    with pytest.raises(RegistryError, match="names are lower-case"):
        make().register("loss", bad, Hinge, plugin="p")


def test_factory_must_be_callable():
    with pytest.raises(RegistryError, match="not callable"):
        make().register("loss", "x", 3, plugin="p")


def test_list_sorted_filtered_and_by_kind():
    registry = make()
    for name in ["siglip", "infonce", "instance"]:
        registry.register("loss", name, Hinge, plugin="p")
    registry.register("dataset", "flickr8k", Hinge, plugin="p")
    assert [i.name for i in registry.list("loss")] == ["infonce", "instance", "siglip"]
    assert [i.name for i in registry.list("losses", "in*")] == ["infonce", "instance"]
    assert [i.kind for i in registry.list()] == ["loss"] * 3 + ["dataset"]
    with pytest.raises(UnknownComponentError, match="did you mean 'losses'"):
        registry.list("losss")


def test_create_calls_factory_with_arguments():
    registry = make()
    registry.register("loss", "pair", lambda a, b=0: (a, b), plugin="p")
    assert registry.create("loss", "pair", 1, b=2) == (1, 2)


def test_plural_spellings():
    assert plural("loss") == "losses" and plural("image_encoder") == "image-encoders"
    assert KIND_ALIASES["image-encoders"] == KIND_ALIASES["image_encoder"] == "image_encoder"
    assert "losss" not in KIND_ALIASES


def test_as_dict_is_json_friendly():
    import json

    info = make().register("loss", "hinge", Hinge, plugin="p", margin=0.2, obj=object())
    data = json.loads(json.dumps(info.as_dict()))
    assert data["factory"].endswith("Hinge") and data["metadata"] == {"margin": 0.2}
