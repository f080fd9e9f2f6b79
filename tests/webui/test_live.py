"""Tier 3: a live WebUI with Clip Skip Control installed, at CLIP_SKIP_WEBUI_URL (skipped without it).

Run against a WebUI started with ``--api`` on a random-weight checkpoint (``make_checkpoint.py`` beside
this file writes SD1.5, SD2.1 and SDXL ones). Every request uses 64×64, few steps and emphasis
"No norm", since "Original" can divide by a near-zero mean on random weights. Images are compared on
their decoded pixel rows (PNG IDAT data), not on the PNG bytes, which also hold the infotext.

Which checkpoint: the server's loaded one, or set ``CLIP_SKIP_WEBUI_MODEL`` to a checkpoint title
(``/sdapi/v1/sd-models``) to send ``override_settings: {"sd_model_checkpoint": ...}`` with every
request. The family (SD1, SD2, SDXL) is read from ``/clip-skip-control/v1/describe`` after one
generation, and the tests adapt only where the hosts differ:

- A1111 SDXL: the host's Clip skip moves CLIP-L only with the option ``sdxl_clip_l_skip`` (the panel
  sets it around its encodes), so host N means ``CLIP_stop_at_last_layers`` N with that option on;
  the host's default (option off) is CLIP-L ``hidden_states[-2]``, i.e. panel 2;
- Forge SDXL: 1 and 2 select the same layers (``minimal_clip_skip`` 2);
- A1111 SD2: the host ignores clip skip, so every value gives the host's image, and the infotext's
  "Clip skip source" says it has no effect.

``test_a_saved_default_applies_when_the_generation_loads_its_checkpoint`` needs a second checkpoint of
the loaded family (``CLIP_SKIP_WEBUI_MODEL_B``, else the first other one listed whose file, when it is
on this machine, is of that family); it is skipped without one.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import struct
import urllib.error
import urllib.parse
import urllib.request
import zlib

import pytest

URL = os.environ.get("CLIP_SKIP_WEBUI_URL", "").rstrip("/")
pytestmark = [pytest.mark.webui, pytest.mark.skipif(not URL, reason="CLIP_SKIP_WEBUI_URL is not set")]
TITLE = "Clip Skip Control"
BASE = {
    "prompt": "a photo of a red cat sitting on a wooden chair",
    "negative_prompt": "blurry, low quality",
    "seed": 1234,
    "steps": 4,
    "width": 64,
    "height": 64,
    "sampler_name": "Euler",
    "cfg_scale": 7,
    # live previews off: on SDXL the hosts would download vaeapprox-sdxl.pt (processing.py, "Approx NN")
    # Clip skip 1 stated, not assumed: Neo's default is 2 (modules/shared_options.py:224)
    "override_settings": {
        "emphasis": "No norm",
        "live_previews_enable": False,
        "CLIP_stop_at_last_layers": 1,
    },
    "override_settings_restore_afterwards": True,
}
MODEL = os.environ.get("CLIP_SKIP_WEBUI_MODEL", "")
if MODEL:
    BASE["override_settings"]["sd_model_checkpoint"] = MODEL


def call(path, body=None, timeout=600):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(URL + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def txt2img(panel=None, **changes):
    body = {**BASE, **changes}
    if panel is not None:
        body["alwayson_scripts"] = {TITLE: {"args": [panel]}}
    status, answer = call("/sdapi/v1/txt2img", body)
    assert status == 200, answer
    return answer


def pixels(b64png):
    """The PNG's decompressed IDAT stream: equal for equal pixels from the same encoder."""
    data, out, pos = base64.b64decode(b64png), b"", 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            out += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return zlib.decompress(out)


def images(answer):
    return [pixels(image) for image in answer["images"]]


def infotext(answer, index=0):
    return json.loads(answer["info"])["infotexts"][index]


@functools.cache
def loaded() -> tuple[str, str]:
    """(host, family) of the model the requests run on; one generation first loads it (Forge loads
    lazily, CLIP_SKIP_WEBUI_MODEL may switch it)."""
    if host_name() == "a1111":
        # A1111 restores only overridden options that config.json holds (processing.py:823): send
        # sdxl_clip_l_skip with every request, or host_skip's True would stay on after it.
        BASE["override_settings"]["sdxl_clip_l_skip"] = False
    txt2img(steps=1)
    _, described = call("/clip-skip-control/v1/describe?value=1")
    return described["host"], described["family"]


def moves() -> bool:
    """Whether the host's own Clip skip changes anything on this model (A1111 ignores it on SD2)."""
    return loaded() != ("a1111", "sd2")


# Panel values that select the host's default layers (its own Clip skip 1, no other option).
DEFAULT_EQUIVALENTS = {("a1111", "sdxl"): {2}, ("forge", "sdxl"): {1, 2}, ("neo", "sdxl"): {1, 2}}


def same_as_default(skip: int) -> bool:
    return not moves() or skip in DEFAULT_EQUIVALENTS.get(loaded(), {1})


def moved() -> int:
    """The smallest skip above 1 whose image differs from the host's default: 2, or 3 on SDXL."""
    return 3 if loaded()[1] == "sdxl" else 2


def host_skip(skip: int) -> dict:
    """override_settings for the host's own Clip skip ``skip`` (for the next request)."""
    overrides = {**BASE["override_settings"], "CLIP_stop_at_last_layers": skip}
    if loaded() == ("a1111", "sdxl"):
        overrides["sdxl_clip_l_skip"] = True  # else A1111 SDXL ignores it (sd_hijack_clip.py:374-384)
        # A1111's one-entry cond cache is keyed without that option (processing.py:440-452): an entry
        # of the same prompts made with it off would be reused. Another prompt evicts it.
        txt2img(prompt="evict", negative_prompt="the cond cache", steps=1)
    return overrides


def assert_moved(a, b):
    """``a`` and ``b`` were made with different skips: they differ, unless the host ignores clip skip."""
    if moves():
        assert a != b
    else:
        assert a == b


NO_EFFECT = 'Clip skip source: "none ('  # e.g. "none (SD2 on A1111: the host never reads clip skip)"


@pytest.fixture(scope="module")
def host_skip_1():
    loaded()
    return images(txt2img())[0]


def test_the_extension_is_loaded():
    status, info = call("/sdapi/v1/script-info")
    assert status == 200
    assert any(s["name"] == TITLE.lower() and s["is_alwayson"] for s in info)
    status, schema = call("/clip-skip-control/v1/schema")
    assert status == 200
    assert schema["positional_order"][:2] == ["enabled", "positive"]


@pytest.mark.parametrize("skip", [1, 2, 3])
def test_panel_constant_is_bit_identical_to_the_hosts_clip_skip(skip, host_skip_1):
    host = txt2img(override_settings=host_skip(skip))
    ours = txt2img({"enabled": True, "positive": str(skip)})
    assert images(ours) == images(host)
    if same_as_default(skip):
        assert images(ours)[0] == host_skip_1
    else:
        assert images(ours)[0] != host_skip_1  # clip skip is observable on this checkpoint
    if not moves():
        assert NO_EFFECT in infotext(ours)


def test_schedule_negative_and_fractional_change_the_image(host_skip_1):
    n = moved()
    two = images(txt2img({"enabled": True, "positive": str(n)}))[0]
    schedule = images(txt2img({"enabled": True, "positive": f"{n}@50%, 1"}))[0]
    negative = images(txt2img({"enabled": True, "positive": "1", "negative": str(n + 1)}))[0]
    fractional = images(txt2img({"enabled": True, "positive": f"{n - 0.5:g}"}))[0]
    results = [host_skip_1, two, schedule, negative, fractional]
    assert len(set(results)) == (len(results) if moves() else 1)


@functools.cache
def host_name():
    return call("/clip-skip-control/v1/describe?value=1")[1].get("host")


def forge_like() -> bool:
    """Forge 2.x or Forge Neo: the hosts built on Forge's ``backend`` (same API quirks)."""
    return host_name() in ("forge", "neo")


def script_args(name: str, **by_label) -> list:
    """A script's positional args built from the host's own ``/sdapi/v1/script-info``: every arg at
    its default, then the ones named by label (``Label_with_underscores=value``; the first arg of
    that label). The hosts differ in their layouts (Neo's xyz_grid.py has a ``row_count`` Forge
    lacks), so no test writes a fixed list."""
    _, info = call("/sdapi/v1/script-info")
    script = next(s for s in info if s["name"] == name and not s["is_img2img"])
    args = [arg["value"] for arg in script["args"]]
    labels = [arg["label"] for arg in script["args"]]
    for key, value in by_label.items():
        label = key.replace("_", " ")
        if label not in labels:
            raise AssertionError(f"{name} has no arg {label!r}; its args: {labels}")
        args[labels.index(label)] = value
    return args


def test_hires_pass_has_its_own_skip():
    # Forge's API needs hr_additional_modules with hires (processing.py:1405 iterates it)
    forge = {"hr_additional_modules": ["Use same choices"]} if forge_like() else {}
    hires = {
        **forge,
        "enable_hr": True,
        "hr_scale": 1.5,
        "hr_upscaler": "Latent",
        "hr_second_pass_steps": 2,
        "denoising_strength": 0.6,
    }
    n = moved()
    same = images(txt2img({"enabled": True, "positive": str(n)}, **hires))[0]
    own = images(txt2img({"enabled": True, "positive": str(n), "hires_positive": str(n + 1)}, **hires))[0]
    assert_moved(same, own)


def test_directives_in_a_batch_of_two():
    directive = txt2img(None, prompt=BASE["prompt"] + " <clipskip:2>", batch_size=2)
    panel = txt2img({"enabled": True, "positive": "2"}, batch_size=2)
    assert images(directive) == images(panel)
    assert "<clipskip:2>" in infotext(directive)  # the prompt keeps it: the image can be remade
    assert ("Clip skip source: prompt" if moves() else NO_EFFECT) in infotext(directive)


def test_directives_are_per_prompt_with_prompts_from_file(host_skip_1):
    lines = f"{BASE['prompt']} <clipskip:2>\n{BASE['prompt']}"
    answer = txt2img(
        None,
        prompt="",
        script_name="prompts from file or textbox",
        script_args=script_args("prompts from file or textbox", List_of_prompt_inputs=lines),
    )
    two = images(txt2img({"enabled": True, "positive": "2"}))[0]
    got = images(answer)[-2:]  # Forge puts a grid first
    assert got[0] == two
    assert got[1] == host_skip_1


def test_a_prompt_without_directive_in_a_mixed_batch_gets_the_hosts_default():
    """Prompt matrix, batch 2: "cat" next to "cat, <clipskip:N>" must equal "cat" next to "cat, blue"
    (the host's default; images of one batch are compared with a batch of the same size)."""

    def plain_cell(extra):
        answer = txt2img(
            None,
            prompt=f"{BASE['prompt']}|{extra}",
            batch_size=2,
            script_name="prompt matrix",
            script_args=script_args("prompt matrix"),
        )
        return images(answer)[-2], infotext(answer, len(answer["images"]) - 2)

    mixed, text = plain_cell(f"<clipskip:{moved() + 1}>")
    plain, _ = plain_cell("blue")
    assert mixed == plain
    assert ("Clip skip source: host" if moves() else NO_EFFECT) in text or "Clip skip source" not in text


def test_xyz_grid_over_the_schedule_axis():
    _, info = call("/sdapi/v1/script-info")
    xyz = next(s for s in info if s["name"] == "x/y/z plot" and not s["is_img2img"])
    axis_types = xyz["args"][0]["choices"]
    schedule = f"{moved()}@50%, 1"
    # the axis types are dropdowns of type "index"; include_lone_images returns the cells after the grid
    args = script_args(
        "x/y/z plot",
        X_type=axis_types.index("[Clip skip] Schedule"),
        X_values=f'1,"{schedule}"',
        Y_type=0,
        Z_type=0,
        Include_Sub_Images=True,
    )
    answer = txt2img(None, script_name="x/y/z plot", script_args=args)
    cells = images(answer)[1:]  # the grid comes first
    assert len(cells) == 2
    assert_moved(cells[0], cells[1])
    assert any(
        f'Clip skip schedule: "{schedule}"' in text for text in json.loads(answer["info"])["infotexts"]
    )


def test_an_invalid_xyz_value_answers_422_naming_the_axis():
    _, info = call("/sdapi/v1/script-info")
    xyz = next(s for s in info if s["name"] == "x/y/z plot" and not s["is_img2img"])
    axis_types = xyz["args"][0]["choices"]
    args = script_args(
        "x/y/z plot",
        X_type=axis_types.index("[Clip skip] Positive"),
        X_values='1,"2@@1"',
        Y_type=0,
        Z_type=0,
    )
    status, answer = call("/sdapi/v1/txt2img", {**BASE, "script_name": "x/y/z plot", "script_args": args})
    assert status == 422, answer
    assert "[Clip skip] Positive" in error_text(answer)
    assert "unexpected '@' at character 3" in error_text(answer)


def test_infotext_round_trips_through_png_info():
    first = txt2img({"enabled": True, "positive": "2@50%, 1", "negative": "3"})
    status, parsed = call("/sdapi/v1/png-info", {"image": "data:image/png;base64," + first["images"][0]})
    assert status == 200
    params = parsed["parameters"]
    assert params["Clip skip schedule"] == "2@50%, 1"
    assert params["Negative clip skip"] == "3"
    if forge_like():
        # Forge's own `infotext` request field fails on any infotext (api.py:407, isinstance with
        # a parameterized generic): restore the panel from the parsed keys, as the paste does.
        _, schema = call("/clip-skip-control/v1/schema")
        restored = {f["name"]: params[f["infotext"]] for f in schema["fields"] if f["infotext"] in params}
        again = txt2img({"enabled": True, **restored})
    else:
        again = txt2img(None, infotext=parsed["info"])
    assert images(again) == images(first)


def error_text(answer):
    # A1111 (api.py handle_exception: "errors"), Forge ("message"; an HTTPException: FastAPI's "detail")
    return answer.get("errors") or answer.get("message") or answer.get("detail") or ""


def test_invalid_input_fails_with_its_message_and_leaves_options_unchanged():
    _, before = call("/sdapi/v1/options")
    status, answer = call(
        "/sdapi/v1/txt2img",
        {**BASE, "alwayson_scripts": {TITLE: {"args": [{"enabled": True, "positive": "2@@1"}]}}},
    )
    assert status == 422
    assert "unexpected '@' at character 3" in error_text(answer)
    status, answer = call(
        "/sdapi/v1/txt2img",
        {**BASE, "alwayson_scripts": {TITLE: {"args": [{"enabled": True, "postive": "2"}]}}},
    )
    assert status == 422
    assert "unknown field 'postive'" in error_text(answer)
    _, after = call("/sdapi/v1/options")
    assert after == before


def test_parity_with_prompt_editing_and_break_and_batches():
    syntax = {
        "prompt": "a photo of a [cat:dog:2] AND a tree:0.7 BREAK (red:1.2) chair",
        "batch_size": 2,
        "n_iter": 2,
    }
    host = txt2img(override_settings=host_skip(2), **syntax)
    ours = txt2img({"enabled": True, "positive": "2"}, **syntax)
    assert len(images(ours)) == 4
    assert images(ours) == images(host)
    scheduled = txt2img({"enabled": True, "positive": f"{moved()}@50%, 1"}, **syntax)
    assert_moved(images(scheduled), images(ours))


def test_img2img_parity_and_schedule():
    init = txt2img()["images"][0]
    body = {**BASE, "init_images": [init], "denoising_strength": 0.6}

    def img2img(panel=None, **changes):
        request = {**body, **changes}
        if panel:
            request["alwayson_scripts"] = {TITLE: {"args": [panel]}}
        status, answer = call("/sdapi/v1/img2img", request)
        assert status == 200, answer
        return images(answer)

    host = img2img(override_settings=host_skip(2))
    assert img2img({"enabled": True, "positive": "2"}) == host
    assert_moved(img2img({"enabled": True, "positive": f"{moved()}@50%, 1"}), host)


def test_auto_mode_chooses_per_prompt_and_explains():
    tags = "masterpiece, best quality, 1girl, solo, long hair, looking at viewer"
    skip = "1" if loaded()[1] == "sd2" else "2"  # default policy: SD1 and SDXL tags 2; SD2 its native layer
    auto = txt2img({"enabled": True, "mode": "Auto"}, prompt=tags)
    chosen = txt2img({"enabled": True, "positive": skip}, prompt=tags)
    assert images(auto) == images(chosen)
    status, explained = call("/clip-skip-control/v1/explain?prompt=" + urllib.parse.quote(tags))
    assert status == 200
    assert (explained["style"], explained["skip"]) == ("tags", skip)
    if not moves():
        return  # A1111 SD2: nothing is changed, and nothing is written (not even the mode)
    assert "Clip skip mode: auto" in infotext(auto)
    assert f"Clip skip auto: tags 1.00 → {skip}" in infotext(auto)


def request(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        URL + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=600) as response:
        return json.loads(response.read())


def test_checkpoint_default_saved_applies_with_the_panel_closed_and_is_forgotten(host_skip_1):
    status, found = call("/clip-skip-control/v1/checkpoint")
    assert status == 200
    assert found["value"] is None  # the random checkpoint records no clip skip
    status, _ = call("/clip-skip-control/v1/checkpoint?name=no-such-model")
    assert status == 404
    try:
        message = request("POST", "/clip-skip-control/v1/checkpoint", {"value": "3"})["message"]
        if not moves():
            assert message.startswith("Not saved: clip skip has no effect on")
            return
        assert "Saved 3" in message
        saved = txt2img()
        assert images(saved) == images(txt2img({"enabled": True, "positive": "3"}))
        assert "Clip skip source: checkpoint 3 (user override)" in infotext(saved)
    finally:
        request("DELETE", "/clip-skip-control/v1/checkpoint")
    assert images(txt2img())[0] == host_skip_1


def family_on_disk(filename: str) -> str | None:
    """The family of a local .safetensors file from its key names (None: not readable here)."""
    try:
        with open(filename, "rb") as file:
            header = file.read(struct.unpack("<Q", file.read(8))[0])
    except (OSError, struct.error):
        return None
    for marker, family in ((b'"conditioner.embedders.1.', "sdxl"), (b'"cond_stage_model.model.', "sd2")):
        if marker in header:
            return family
    return "sd1" if b'"cond_stage_model.transformer.' in header else None


def other_checkpoint(loaded_title: str, family: str) -> str | None:
    """CLIP_SKIP_WEBUI_MODEL_B, else the first other listed checkpoint that may be of ``family``."""
    if os.environ.get("CLIP_SKIP_WEBUI_MODEL_B"):
        return os.environ["CLIP_SKIP_WEBUI_MODEL_B"]
    _, models = call("/sdapi/v1/sd-models")
    for model in models:
        if model["title"] != loaded_title and family_on_disk(model["filename"]) in (family, None):
            return model["title"]
    return None


def test_a_saved_default_applies_when_the_generation_loads_its_checkpoint():
    """A default saved for checkpoint B applies to a generation that switches to B itself
    (override_settings), panel closed: on Forge the model is loaded inside process_images, after
    the scripts' before_process and before their process (Forge processing.py:836 vs 907)."""
    family = loaded()[1]
    if not moves():
        pytest.skip("the host ignores clip skip on this model: no default can apply")
    _, found = call("/clip-skip-control/v1/checkpoint")
    home = found["checkpoint"]
    other = other_checkpoint(home, family)
    if other is None:
        pytest.skip(f"the server lists no second {family} checkpoint")
    on_other = {**BASE["override_settings"], "sd_model_checkpoint": other}
    txt2img(override_settings=on_other, steps=1)  # load B: the route saves for the loaded checkpoint
    if call("/clip-skip-control/v1/describe?value=1")[1]["family"] != family:
        txt2img(steps=1)
        pytest.skip(f"{other} is not a {family} checkpoint")
    try:
        assert "Saved 3" in request("POST", "/clip-skip-control/v1/checkpoint", {"value": "3"})["message"]
        expected = txt2img({"enabled": True, "positive": "3"}, override_settings=on_other)
        txt2img(steps=1)  # back to the home checkpoint
        _, found = call("/clip-skip-control/v1/checkpoint")
        assert found["checkpoint"] == home
        switched = txt2img(override_settings=on_other)
        assert "Clip skip source: checkpoint 3 (user override)" in infotext(switched)
        assert images(switched) == images(expected)
        assert images(switched) != images(
            txt2img({"enabled": True, "positive": "1"}, override_settings=on_other)
        )
    finally:
        txt2img(override_settings=on_other, steps=1)  # the route forgets for the loaded checkpoint
        request("DELETE", "/clip-skip-control/v1/checkpoint")
        assert call("/clip-skip-control/v1/checkpoint?name=" + urllib.parse.quote(other))[1]["value"] is None
        txt2img(steps=1)
