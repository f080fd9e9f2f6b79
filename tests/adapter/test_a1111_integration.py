"""XYZ axes, routes, settings and registration on the fake A1111."""

import types

import pytest
from modules import processing, script_callbacks, scripts, shared

from clip_skip_ext import params
from clip_skip_ext.webui import api, register, settings, xyz
from clip_skip_ext.webui.hook import ClipSkipError


class AxisOption:  # scripts/xyz_grid.py:214-223
    def __init__(
        self, label, type, apply, format_value=None, confirm=None, cost=0.0, choices=None, prepare=None
    ):
        self.label, self.type, self.apply, self.confirm, self.choices = label, type, apply, confirm, choices


@pytest.fixture
def xyz_grid(monkeypatch):
    """The live xyz_grid.py module as A1111 loads it: module name = file name (script_loading.py:10-16)."""
    module = types.ModuleType("xyz_grid.py")
    module.AxisOption = AxisOption
    module.axis_options = [AxisOption("Clip skip", int, None)]
    script_class = type("Script", (), {"__module__": "xyz_grid.py"})
    monkeypatch.setattr(
        scripts, "scripts_data", [scripts.ScriptClassData(script_class, "xyz_grid.py", ".", module)]
    )
    return module


def test_axes_are_added_once_with_the_prefix(xyz_grid):
    xyz.add_axes()
    xyz.add_axes()
    labels = [option.label for option in xyz_grid.axis_options]
    assert labels == [
        "Clip skip",
        "[Clip skip] Positive",
        "[Clip skip] Negative",
        "[Clip skip] Schedule",
        "[Clip skip] Mode",
    ]
    mode = xyz_grid.axis_options[-1]
    assert mode.choices() == list(params.MODES)


def test_confirm_rejects_bad_values_before_the_grid_runs(xyz_grid):
    xyz.add_axes()
    schedule = next(o for o in xyz_grid.axis_options if o.label == "[Clip skip] Schedule")
    schedule.confirm(None, ["1", "2@40%, 1", "1.5"])
    # ClipSkipError carries status_code 422, which the hosts' API answers with (A1111 api.py:167-181)
    with pytest.raises(
        ClipSkipError, match=r"\[Clip skip\] Schedule: .*unexpected '@' at character 3"
    ) as bad:
        schedule.confirm(None, ["1", "2@@1"])
    assert bad.value.status_code == 422
    with pytest.raises(ClipSkipError, match="accepted: 1 to 13"):
        schedule.confirm(None, ["14"])
    mode = next(o for o in xyz_grid.axis_options if o.label == "[Clip skip] Mode")
    with pytest.raises(ClipSkipError, match="'Often' is not one of Manual") as bad:
        mode.confirm(None, ["Manual", "Often"])
    assert bad.value.status_code == 422


def test_axis_values_override_the_panel_per_cell(xyz_grid, script):
    xyz.add_axes()
    schedule = next(o for o in xyz_grid.axis_options if o.label == "[Clip skip] Schedule")
    base = processing.StableDiffusionProcessingTxt2Img(
        prompt="a cat", steps=2, scripts=[script], script_args=[True, "3"]
    )
    cells = []
    for value in ("1", "2@50%, 1"):
        cell = __import__("copy").copy(base)  # xyz_grid.py:711-715 shallow copy per cell
        schedule.apply(cell, value, None)
        processing.process_images(cell)
        cells.append(dict(cell.extra_generation_params))
    assert not hasattr(base, xyz.XYZ_ATTR)
    assert cells[0]["Clip skip schedule"] == "1"
    assert cells[0]["Negative clip skip"] == "1"
    assert cells[1]["Clip skip schedule"] == "2@50%, 1"
    assert cells[1]["Clip skip source"] == "xyz"


def test_routes_and_settings():
    routes = {}
    app = types.SimpleNamespace(add_api_route=lambda path, fn, methods: routes.setdefault(path, fn))
    api.add_routes(None, app)
    assert routes["/clip-skip-control/v1/schema"]()["positional_order"][0] == "enabled"
    described = routes["/clip-skip-control/v1/describe"](value="2@40%, 1")
    assert described["valid"]
    assert "layer 11 of 12" in described["status"]
    assert routes["/clip-skip-control/v1/describe"](value="25")["error"].startswith(
        "positive: clip skip schedule '25'"
    )
    explained = routes["/clip-skip-control/v1/explain"](prompt="1girl, solo, masterpiece, best quality")
    assert (explained["style"], explained["skip"]) == ("tags", "2")
    settings.add_options()
    assert shared.opts.clip_skip_directives is True
    assert shared.opts.clip_skip_policy.startswith("#") or "sd1 tags: 2" in shared.opts.clip_skip_policy


def test_register_adds_callbacks_each_time_scripts_load(xyz_grid):
    for hooks in script_callbacks.callbacks.values():
        hooks.clear()
    register()
    assert settings.add_options in script_callbacks.callbacks["ui_settings"]
    assert api.add_routes in script_callbacks.callbacks["app_started"]
    assert any(o.label == "[Clip skip] Mode" for o in xyz_grid.axis_options)


def test_directives_can_be_turned_off(script, sd1_model):
    shared.opts.data["clip_skip_directives"] = False
    p = processing.StableDiffusionProcessingTxt2Img(
        prompt="a cat", negative_prompt="<clipskip:3> blurry", steps=2, scripts=[script], script_args=[False]
    )
    processing.process_images(p)
    assert sd1_model.encodes[0] == ([" blurry"], 1)  # removed (as the host removes tags), and ignored
