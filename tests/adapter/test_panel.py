"""The panel's schedule preview against the fake host: wired to the tab's own inputs, following them,
and showing what the hook will do (fake gradio: tests/fake_host/gradio.py)."""

import gradio as gr
import pytest
from modules import shared
from panel_support import IMG2IMG, TXT2IMG, build, fire, panel_values


@pytest.fixture(autouse=True)
def no_events():
    gr.EVENTS.clear()
    yield
    gr.EVENTS.clear()


def test_every_panel_field_and_tab_input_updates_the_preview(script):
    components = build(script, TXT2IMG)
    watched = components + list(TXT2IMG.values())
    for component in watched:
        (listener,) = [e for e in gr.EVENTS if e[0] is component and e[1] == "change"]
        assert listener[3] == watched  # every listener reads every field, in one order
    # the hidden refresh button (clicked by the page's script after typing stops) reads them all too
    (click,) = [e for e in gr.EVENTS if e[0] is script._panel.refresh and e[1] == "click"]
    assert click[3] == watched
    values = panel_values(components, enabled=True, positive="2@40%, 1")
    shown = fire(components[1], values)
    assert "<svg" in shown
    assert "positive (panel, 2@40%, 1): skip 2 on steps 1-8, skip 1 on steps 9-20" in shown
    values[id(TXT2IMG["txt2img_steps"])] = 10
    shown = fire(TXT2IMG["txt2img_steps"], values)
    assert "skip 2 on steps 1-4, skip 1 on steps 5-10" in shown


def test_a_panel_built_before_the_steps_slider_is_wired_when_the_tab_ends(script):
    components = build(script, TXT2IMG, before="txt2img_steps")
    (listener,) = [e for e in gr.EVENTS if e[0] is TXT2IMG["txt2img_steps"] and e[1] == "change"]
    assert listener[3] == components + list(TXT2IMG.values())
    values = panel_values(components, enabled=True, positive="2@50%, 1")
    values[id(TXT2IMG["txt2img_steps"])] = 8
    assert "skip 2 on steps 1-4, skip 1 on steps 5-8" in fire(components[0], values)


def test_invalid_input_replaces_the_chart_with_the_error(script):
    components = build(script, TXT2IMG)
    shown = fire(components[1], panel_values(components, enabled=True, positive="2@@"))
    assert "<svg" not in shown
    assert "⚠" in shown
    assert "unexpected '@' at character 3" in shown
    values = panel_values(components, enabled=True)
    values[id(TXT2IMG["txt2img_prompt"])] = "a cat <clipskip:99>"
    shown = fire(TXT2IMG["txt2img_prompt"], values)
    assert "<svg" not in shown
    assert "skip value 99 is not allowed" in shown


def test_directives_hires_and_the_host_are_named_as_sources(script):
    components = build(script, TXT2IMG)
    values = panel_values(components, enabled=True, negative="3")
    values[id(TXT2IMG["txt2img_prompt"])] = "a cat <clipskip:2@50%, 1>"
    values[id(TXT2IMG["txt2img_hr-checkbox"])] = True
    values[id(TXT2IMG["txt2img_hires_steps"])] = 6
    values[id(TXT2IMG["hires_prompt"])] = "a cat, detailed <clipskip:4>"
    shown = fire(TXT2IMG["txt2img_prompt"], values)
    assert "positive (prompt directive, 2@50%, 1): skip 2 on steps 1-10, skip 1 on steps 11-20" in shown
    assert "negative (panel, 3): skip 3 on steps 1-20" in shown
    assert "hires positive (prompt directive, 4): skip 4 on steps 1-6" in shown
    assert "hires negative (panel, 3)" in shown
    assert "hires pass: 6 steps" in shown
    shared.opts.data["CLIP_stop_at_last_layers"] = 2
    shown = fire(components[0], panel_values(components, enabled=False))
    assert "positive (host Clip skip, 2): skip 2 on steps 1-20" in shown


def test_img2img_shows_the_steps_that_run_at_the_denoising_strength(script):
    components = build(script, IMG2IMG, is_img2img=True)
    values = panel_values(components, enabled=True, positive="2@50%, 1")
    values[id(IMG2IMG["img2img_denoising_strength"])] = 0.5
    shown = fire(IMG2IMG["img2img_denoising_strength"], values)
    assert "skip 2 on steps 1-5, skip 1 on steps 6-11" in shown
    assert "img2img at denoising strength 0.5: 11 of 20 steps run" in shown
    assert 'id="csc-img2img-title"' in shown  # its own ids, apart from the txt2img chart's
    shared.opts.data["img2img_fix_steps"] = True
    assert "skip 2 on steps 1-10, skip 1 on steps 11-20" in fire(components[0], values)


def test_auto_mode_names_its_choice(script):
    components = build(script, TXT2IMG)
    values = panel_values(components, enabled=True, mode="Auto")
    values[id(TXT2IMG["txt2img_prompt"])] = "1girl, solo, masterpiece, best quality, long hair, smile"
    shown = fire(TXT2IMG["txt2img_prompt"], values)
    assert "positive (Auto mode, 2)" in shown


class LoadsOnRead:
    """A1111's shared.sd_model: reading it loads the model (sd_models.py:683-701, shared_items.py:172-175)."""

    def __getattr__(self, name):
        raise AssertionError(f"the panel read shared.sd_model.{name}, which loads the model")


def test_building_the_panel_and_its_first_status_never_load_the_model(script, monkeypatch, tmp_path):
    from types import SimpleNamespace

    from modules import sd_models

    monkeypatch.setattr(sd_models, "model_data", SimpleNamespace(sd_model=None), raising=False)
    monkeypatch.setattr(shared, "sd_model", LoadsOnRead())
    components = build(script, TXT2IMG)
    initial = script._panel.info.value  # Gradio 3.41 calls a callable value at creation (base.py:353-359)
    assert callable(initial)
    assert "<p>" in initial()
    values = panel_values(components, enabled=True, positive="2")
    assert "⚠" not in fire(components[1], values)


def adetailer_fields(tab="txt2img", tabs=2):
    """ADetailer's fields as its ``aaaaaa/ui.py`` names them (elem_id(): the 2nd tab's end in "_2nd")."""
    fields = {f"script_{tab}_adetailer_ad_main_accordion-checkbox": gr.Checkbox(value=False)}
    for n in range(tabs):
        end = "" if n == 0 else "_2nd"
        fields |= {
            f"script_{tab}_adetailer_ad_tab_enable{end}": gr.Checkbox(value=True),
            f"script_{tab}_adetailer_ad_model{end}": gr.Textbox(
                value="face_yolov8n.pt" if n == 0 else "None"
            ),
            f"script_{tab}_adetailer_ad_use_clip_skip{end}": gr.Checkbox(value=False),
            f"script_{tab}_adetailer_ad_clip_skip{end}": gr.Slider(value=1),
        }
    return fields


@pytest.mark.parametrize("tab", ["txt2img", "img2img"])
def test_the_status_line_says_what_adetailers_passes_use(script, tab):
    theirs = adetailer_fields(tab)
    own = TXT2IMG if tab == "txt2img" else IMG2IMG
    components = build(script, {**theirs, **own}, is_img2img=tab == "img2img")
    (listener,) = [e for e in gr.EVENTS if e[0] is theirs[f"script_{tab}_adetailer_ad_use_clip_skip"]]
    assert set(map(id, theirs.values())) <= set(map(id, listener[3]))  # its fields update the line
    values = panel_values(components, enabled=True, positive="2")

    def shown(**changes):
        given = dict(values)
        for field, value in changes.items():
            given[id(theirs[f"script_{tab}_adetailer_{field}"])] = value
        return fire(components[0], given)

    assert "ADetailer" not in shown()  # ADetailer off
    assert "ADetailer 1st: the image's skip" in shown(**{"ad_main_accordion-checkbox": True})
    on = {"ad_main_accordion-checkbox": True, "ad_use_clip_skip": True, "ad_clip_skip": 3}
    assert "ADetailer 1st: its own CLIP skip 3 (its Use separate CLIP skip is on)" in shown(**on)
    both = shown(**on, ad_model_2nd="mediapipe_face_full")
    assert "(its Use separate CLIP skip is on); ADetailer 2nd: the image's skip" in both
    assert "2nd" not in shown(**on, ad_model_2nd="mediapipe_face_full", ad_tab_enable_2nd=False)


def test_adetailer_fields_of_the_other_tab_are_not_read(script):
    components = build(script, {**adetailer_fields("img2img"), **TXT2IMG})
    (listener,) = [e for e in gr.EVENTS if e[0] is components[0] and e[1] == "change"]
    assert listener[3] == components + list(TXT2IMG.values())
