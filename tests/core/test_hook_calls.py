"""Hooks are called through pluggy: its order, its wrappers and its tracing, with each component's owner kept."""

import pytest

import itr_bench
from itr_bench.cli import main
from itr_bench.errors import DuplicateComponentError, PluginError
from itr_bench.plugins import TRACE_PLUGINS_ENV, Registrar, call_each, get_plugin_manager, load_registry
from itr_bench.registry import Registry


def loss_plugin(*names, **marker):
    """A plugin object registering ``names`` as losses; ``marker`` (e.g. tryfirst=True) goes to its hookimpl."""

    class Plugin:
        @itr_bench.hookimpl(**marker)
        def register_losses(self, register):
            for name in names:
                register(name, lambda context: None, description=f"{name} loss")

    return Plugin()


@pytest.fixture
def bare_pm():
    """A manager without the built-ins, so only the test's plugins implement the hooks."""
    return get_plugin_manager(load_entrypoints=False, builtins=(), environ={})


def test_plugins_are_called_in_pluggy_order_tryfirst_first_trylast_last(bare_pm):
    calls = []

    def plugin(name, **marker):
        class Plugin:
            @itr_bench.hookimpl(**marker)
            def register_losses(self, register):
                calls.append(register.plugin)
                register(name, lambda context: None)

        return Plugin()

    bare_pm.register(plugin("early", tryfirst=True), name="early")
    bare_pm.register(plugin("first"), name="first")
    bare_pm.register(plugin("late", trylast=True), name="late")
    bare_pm.register(plugin("second"), name="second")
    registry = load_registry(bare_pm)
    # pluggy: tryfirst, then the most recently registered first, trylast at the end
    assert calls == ["early", "second", "first", "late"]
    assert {info.name: info.plugin for info in registry.list("loss")} == {
        "early": "early", "first": "first", "late": "late", "second": "second"}


def test_a_tryfirst_plugin_wins_the_clash_message(bare_pm):
    bare_pm.register(loss_plugin("same"), name="plain")
    bare_pm.register(loss_plugin("same", tryfirst=True), name="eager")
    bare_pm.register(loss_plugin("same", trylast=True), name="lazy")
    with pytest.raises(DuplicateComponentError, match="'same' is registered by both 'eager' and 'plain'"):
        load_registry(bare_pm)


@pytest.mark.parametrize("style", ["wrapper", "hookwrapper"])
def test_a_hook_wrapper_runs_around_each_plugin_and_can_alter_its_results(bare_pm, style):
    seen = []

    class Wrapper:
        if style == "wrapper":
            @itr_bench.hookimpl(wrapper=True)
            def register_losses(self, register):
                result = yield
                seen.append((register.plugin, [info.name for info in register.registered], list(result)))
                return [*result, f"wrapped {register.plugin}"]
        else:
            @itr_bench.hookimpl(hookwrapper=True)
            def register_losses(self, register):
                outcome = yield
                seen.append((register.plugin, [info.name for info in register.registered], outcome.get_result()))
                outcome.force_result([*outcome.get_result(), f"wrapped {register.plugin}"])

    class Returns:
        @itr_bench.hookimpl
        def register_losses(self, register):
            register("r", lambda context: None)
            return "from returns"

    bare_pm.register(loss_plugin("a", "b"), name="ab")
    bare_pm.register(Returns(), name="returns")
    bare_pm.register(Wrapper(), name="wrapper")
    registry = Registry()
    results = call_each(bare_pm, "register_losses", lambda owner: {"register": Registrar(registry, "loss", owner)})
    assert results == [("returns", ["from returns", "wrapped returns"]), ("ab", ["wrapped ab"])]
    assert seen == [("returns", ["r"], ["from returns"]), ("ab", ["a", "b"], [])]
    assert {info.name: info.plugin for info in registry.list("loss")} == {"a": "ab", "b": "ab", "r": "returns"}


def test_trace_variable_prints_each_hook_call_with_its_plugin(capsys, monkeypatch):
    monkeypatch.setenv(TRACE_PLUGINS_ENV, "1")
    monkeypatch.setenv("ITR_BENCH_LOAD_PLUGINS", "")
    assert main(["list", "losses"]) == 0
    err = capsys.readouterr().err
    assert "register_losses [hook]" in err
    assert "register: <register loss for plugin 'itr_bench_losses'>" in err
    assert "finish register_losses -->" in err


def test_no_trace_without_the_variable(capsys, monkeypatch):
    monkeypatch.delenv(TRACE_PLUGINS_ENV, raising=False)
    monkeypatch.setenv("ITR_BENCH_LOAD_PLUGINS", "")
    assert main(["list", "losses"]) == 0
    assert "[hook]" not in capsys.readouterr().err


def test_a_failing_plugin_is_named_not_the_wrapper_around_it(bare_pm):
    class Wrapper:
        @itr_bench.hookimpl(wrapper=True)
        def register_datasets(self, register):
            return (yield)

    class Broken:
        @itr_bench.hookimpl
        def register_datasets(self, register):
            raise RuntimeError("boom")

    bare_pm.register(Broken(), name="broken")
    bare_pm.register(Wrapper(), name="wrapper")
    with pytest.raises(PluginError, match="^plugin 'broken' failed in register_datasets: RuntimeError: boom$"):
        load_registry(bare_pm)


def test_a_failing_wrapper_is_named_not_the_plugin_it_wraps(bare_pm):
    class Wrapper:
        @itr_bench.hookimpl(wrapper=True)
        def register_losses(self, register):
            yield
            raise ValueError("wrapper broke")

    bare_pm.register(loss_plugin("fine"), name="fine")
    bare_pm.register(Wrapper(), name="bad-wrapper")
    with pytest.raises(PluginError, match="^plugin 'bad-wrapper' failed in register_losses: ValueError: wrapper broke$"):
        load_registry(bare_pm)


def test_failing_plugin_is_one_line_on_the_command_line(capsys, monkeypatch, fake_entry_points):
    broken = type("Broken", (), {})()

    def register_losses(register):
        raise RuntimeError("boom")

    broken.register_losses = itr_bench.hookimpl(tryfirst=True)(register_losses)
    fake_entry_points(("broken-dist", "1", "broken", broken))
    assert main(["list"]) == 2
    err = capsys.readouterr().err
    assert err == "itr-bench: error: plugin 'broken' failed in register_losses: RuntimeError: boom\n"
