"""Plugin manager: built-ins, inline plugins, hook validation, entry points (faked)."""

import types

import pytest

import itr_bench
from itr_bench.errors import DuplicateComponentError, PluginError
from itr_bench.plugins import (
    DEFAULT_PLUGINS,
    LOAD_PLUGINS_ENV,
    get_plugin_manager,
    load_registry,
    plugin_infos,
)


class LossPlugin:
    """An inline plugin registering two losses."""

    @itr_bench.hookimpl
    def register_losses(self, register):
        register("toy", lambda context: "toy-loss", description="A toy loss")
        register("toy2", lambda context: "toy2-loss")


def test_get_plugin_manager_is_fresh_each_call():
    a, b = get_plugin_manager(load_entrypoints=False), get_plugin_manager(load_entrypoints=False)
    assert a is not b
    a.register(LossPlugin(), name="only-in-a")
    assert b.get_plugin("only-in-a") is None


def test_builtins_are_registered(pm):
    assert set(DEFAULT_PLUGINS) <= {name for name, _ in pm.list_name_plugin()}
    assert all(info.builtin for info in plugin_infos(pm) if info.name in DEFAULT_PLUGINS)


def test_inline_plugin_registers_with_owner(pm, register_plugin):
    register_plugin(LossPlugin(), "inline")
    registry = load_registry(pm)
    info = registry.get("loss", "toy")
    assert info.plugin == "inline" and info.description == "A toy loss"
    assert info.create(None) == "toy-loss"
    assert "register_losses" in next(i for i in plugin_infos(pm) if i.name == "inline").hooks


def test_inline_plugin_is_gone_after_its_fixture(pm):
    assert ("loss", "toy") not in load_registry(pm)


def test_duplicate_between_plugins_names_both(pm, register_plugin):
    register_plugin(LossPlugin(), "one")
    register_plugin(LossPlugin(), "two")
    # pluggy calls the most recently registered plugin first: 'two' holds the name when 'one' asks
    with pytest.raises(DuplicateComponentError, match="'toy' is registered by both 'two' and 'one'"):
        load_registry(pm)


def test_misspelled_hook_is_rejected(fake_entry_points):
    plugin = types.ModuleType("typo_plugin")

    @itr_bench.hookimpl
    def register_loss(register):  # missing "es"
        pass

    plugin.register_loss = register_loss
    fake_entry_points(("typo-dist", "1.0", "typo", plugin))
    with pytest.raises(PluginError, match=r"plugin 'typo' implements unknown hook 'register_loss': did you mean 'register_losses'"):
        get_plugin_manager()


def test_hookimpl_with_unknown_argument_is_rejected(fake_entry_points):
    plugin = types.ModuleType("bad_args")

    @itr_bench.hookimpl
    def register_losses(register, extra):
        pass

    plugin.register_losses = register_losses
    fake_entry_points(("bad-dist", "1.0", "bad", plugin))
    with pytest.raises(PluginError, match=r"plugin 'bad' .*bad-dist 1.0.*extra"):
        get_plugin_manager(builtins=())


def test_failing_hook_names_the_plugin(pm, register_plugin):
    class Broken:
        @itr_bench.hookimpl
        def register_datasets(self, register):
            raise RuntimeError("boom")

    register_plugin(Broken(), "broken")
    with pytest.raises(PluginError, match="plugin 'broken' failed in register_datasets: RuntimeError: boom"):
        load_registry(pm)


# --------------------------------------------------------------------------------------------
# Entry points, faked (see conftest.py); the real install is in test_example_plugin.py
# --------------------------------------------------------------------------------------------


def test_entry_point_plugins_load_with_their_distribution(fake_entry_points, loss_plugin):
    fake_entry_points(("itr-bench-alpha", "1.2", "alpha", loss_plugin("alpha_loss", "alpha-loss")))
    pm = get_plugin_manager()
    info = next(i for i in plugin_infos(pm) if i.name == "alpha")
    assert (info.version, info.distribution, info.builtin, info.hooks) == (
        "1.2", "itr-bench-alpha", False, ("register_losses",)
    )
    assert load_registry(pm).get("loss", "alpha-loss").plugin == "alpha"


def test_load_plugins_env_restricts_third_party_only(fake_entry_points, loss_plugin):
    fake_entry_points(
        ("dist-a", "1", "a", loss_plugin("a_loss", "a-loss")),
        ("dist-b", "1", "b", loss_plugin("b_loss", "b-loss")),
    )
    by_entry_point = get_plugin_manager(environ={LOAD_PLUGINS_ENV: "a"})
    by_distribution = get_plugin_manager(environ={LOAD_PLUGINS_ENV: "dist-b"})
    none = get_plugin_manager(environ={LOAD_PLUGINS_ENV: ""})
    names = lambda pm: {n for n, _ in pm.list_name_plugin()}  # noqa: E731
    assert "a" in names(by_entry_point) and "b" not in names(by_entry_point)
    assert "b" in names(by_distribution) and "a" not in names(by_distribution)
    assert not {"a", "b"} & names(none) and set(DEFAULT_PLUGINS) <= names(none)


def test_load_entrypoints_false_ignores_them(fake_entry_points, loss_plugin):
    fake_entry_points(("dist-a", "1", "a", loss_plugin("a_loss", "a-loss")))
    assert get_plugin_manager(load_entrypoints=False).get_plugin("a") is None


def test_entry_point_that_fails_to_import(fake_entry_points):
    fake_entry_points(("broken-dist", "0.1", "broken", ImportError("No module named 'torchx'")))
    with pytest.raises(PluginError, match=r"plugin 'broken' .*broken-dist 0.1.* could not be imported: ImportError"):
        get_plugin_manager()


def test_entry_point_clashing_with_builtin_component(fake_entry_points, registry):
    existing = registry.list("loss")
    if not existing:
        pytest.skip("no built-in loss registered yet")
    name = existing[0].name
    plugin = types.ModuleType("clash")

    @itr_bench.hookimpl
    def register_losses(register):
        register(name, lambda context: None)

    plugin.register_losses = register_losses
    fake_entry_points(("clash-dist", "1", "clash", plugin))
    # third-party plugins are registered after the built-ins, so pluggy calls them first
    with pytest.raises(DuplicateComponentError, match=f"registered by both 'clash' and '{existing[0].plugin}'"):
        load_registry(get_plugin_manager())


def test_no_work_at_import_time():
    import importlib
    import subprocess
    import sys

    code = (
        "import sys, itr_bench, itr_bench.plugins, itr_bench.cli, itr_bench.registry;"
        "print(any(m.startswith('itr_bench_') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "importing the core must not import plugins"
    assert importlib.import_module("itr_bench").hookimpl is not None
