"""Module plugins' hook implementations are found as pluggy finds them, without its static lookups."""

from __future__ import annotations

import types

import pluggy
import pytest
from sparkwing.plugins import PROJECT, hookimpl
from sparkwing.plugins.manager import ModulePluginManager, PluginHost


def _module() -> types.ModuleType:
    mod = types.ModuleType("demo_plugin")
    code = '''
import os
from sparkwing.plugins import hookimpl

LIMIT = 3

@hookimpl
def sparkwing_register_backends(registry):
    pass

@hookimpl(specname="sparkwing_run_started", tryfirst=True)
def on_start(run):
    pass

def sparkwing_helper():  # not marked
    pass

class Thing:
    @hookimpl
    def sparkwing_run_finished(self, run):
        pass

marked_static = staticmethod(hookimpl(lambda run: None))
bound = Thing().sparkwing_run_finished
'''
    exec(compile(code, "demo_plugin.py", "exec"), mod.__dict__)
    return mod


def _every_answer(pm: pluggy.PluginManager, plugin: object) -> dict[str, object]:
    return {name: pm.parse_hookimpl_opts(plugin, name) for name in dir(plugin)}


@pytest.mark.parametrize("which", ["demo", "installed"])
def test_same_answers_as_pluggy_for_every_name(which: str) -> None:
    if which == "demo":
        plugins: list[object] = [_module()]
    else:
        host = PluginHost().load()
        plugins = [host.pm.get_plugin(name) for name in host.infos]
        assert len(plugins) >= 4
    ours, theirs = ModulePluginManager(PROJECT), pluggy.PluginManager(PROJECT)
    for plugin in plugins:
        assert _every_answer(ours, plugin) == _every_answer(theirs, plugin)


def test_the_demo_module_registers_its_marked_functions() -> None:
    pm = ModulePluginManager(PROJECT)
    mod = _module()
    answers = {k: v for k, v in _every_answer(pm, mod).items() if v is not None}
    assert set(answers) == {"sparkwing_register_backends", "on_start", "bound", "marked_static"}
    assert answers["on_start"]["specname"] == "sparkwing_run_started"


def test_class_plugins_still_go_through_pluggy() -> None:
    class Plugin:
        @property
        def boom(self) -> None:
            raise AssertionError("a property was run")

        @hookimpl
        def sparkwing_run_started(self, run: object) -> None:
            pass

    pm = ModulePluginManager(PROJECT)
    assert pm.parse_hookimpl_opts(Plugin(), "boom") is None
    assert pm.parse_hookimpl_opts(Plugin(), "sparkwing_run_started") is not None
