"""Tier 3: a live WebUI with Clip Skip Control installed, at CLIP_SKIP_WEBUI_URL (skipped without it).

Run against a WebUI started with ``--api`` on a random-weight SD1.5 checkpoint (``make_checkpoint.py``
beside this file writes one). Every request uses 64×64, few steps and emphasis "No norm", since
"Original" can divide by a near-zero mean on random weights. Images are compared on their decoded
pixel rows (PNG IDAT data), not on the PNG bytes, which also hold the infotext.
"""

from __future__ import annotations

import base64
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
    "override_settings": {"emphasis": "No norm"},
    "override_settings_restore_afterwards": True,
}


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


@pytest.fixture(scope="module")
def host_skip_1():
    return images(txt2img())[0]


def test_the_extension_is_loaded():
    status, info = call("/sdapi/v1/script-info")
    assert status == 200
    assert any(s["name"] == TITLE.lower() and s["is_alwayson"] for s in info)
    status, schema = call("/clip-skip-control/v1/schema")
    assert status == 200
    assert schema["positional_order"][:2] == ["enabled", "positive"]


@pytest.mark.parametrize("skip", [2, 3])
def test_panel_constant_is_bit_identical_to_the_hosts_clip_skip(skip, host_skip_1):
    host = txt2img(override_settings={**BASE["override_settings"], "CLIP_stop_at_last_layers": skip})
    ours = txt2img({"enabled": True, "positive": str(skip)})
    assert images(ours) == images(host)
    assert images(ours)[0] != host_skip_1  # clip skip is observable on this checkpoint


def test_schedule_negative_and_fractional_change_the_image(host_skip_1):
    two = images(txt2img({"enabled": True, "positive": "2"}))[0]
    schedule = images(txt2img({"enabled": True, "positive": "2@50%, 1"}))[0]
    negative = images(txt2img({"enabled": True, "positive": "1", "negative": "3"}))[0]
    fractional = images(txt2img({"enabled": True, "positive": "1.5"}))[0]
    results = [host_skip_1, two, schedule, negative, fractional]
    assert len(set(results)) == len(results)


def host_name():
    return call("/clip-skip-control/v1/describe?value=1")[1].get("host")


def test_hires_pass_has_its_own_skip():
    # Forge's API needs hr_additional_modules with hires (processing.py:1405 iterates it)
    forge = {"hr_additional_modules": ["Use same choices"]} if host_name() == "forge" else {}
    hires = {
        **forge,
        "enable_hr": True,
        "hr_scale": 1.5,
        "hr_upscaler": "Latent",
        "hr_second_pass_steps": 2,
        "denoising_strength": 0.6,
    }
    same = images(txt2img({"enabled": True, "positive": "2"}, **hires))[0]
    own = images(txt2img({"enabled": True, "positive": "2", "hires_positive": "3"}, **hires))[0]
    assert same != own


def test_directives_in_a_batch_of_two():
    directive = txt2img(None, prompt=BASE["prompt"] + " <clipskip:2>", batch_size=2)
    panel = txt2img({"enabled": True, "positive": "2"}, batch_size=2)
    assert images(directive) == images(panel)
    assert "<clipskip:2>" in infotext(directive)  # the prompt keeps it: the image can be remade
    assert "Clip skip source: prompt" in infotext(directive)


def test_directives_are_per_prompt_with_prompts_from_file(host_skip_1):
    lines = f"{BASE['prompt']} <clipskip:2>\n{BASE['prompt']}"
    answer = txt2img(
        None,
        prompt="",
        script_name="prompts from file or textbox",
        script_args=[False, False, "start", lines],
    )
    two = images(txt2img({"enabled": True, "positive": "2"}))[0]
    got = images(answer)[-2:]  # Forge puts a grid first
    assert got[0] == two
    assert got[1] == host_skip_1


def test_xyz_grid_over_the_schedule_axis():
    _, info = call("/sdapi/v1/script-info")
    xyz = next(s for s in info if s["name"] == "x/y/z plot" and not s["is_img2img"])
    axis_types = xyz["args"][0]["choices"]
    index = axis_types.index("[Clip skip] Schedule")
    # scripts/xyz_grid.py:536 ui() order; include_lone_images=True returns the cells after the grid
    args = [
        index,
        '1,"2@50%, 1"',
        [],
        0,
        "",
        [],
        0,
        "",
        [],
        True,
        True,
        False,
        False,
        False,
        False,
        False,
        0,
        False,
    ]
    answer = txt2img(None, script_name="x/y/z plot", script_args=args)
    cells = images(answer)[1:]  # the grid comes first
    assert len(cells) == 2
    assert cells[0] != cells[1]
    assert any('Clip skip schedule: "2@50%, 1"' in text for text in json.loads(answer["info"])["infotexts"])


def test_infotext_round_trips_through_png_info():
    first = txt2img({"enabled": True, "positive": "2@50%, 1", "negative": "3"})
    status, parsed = call("/sdapi/v1/png-info", {"image": "data:image/png;base64," + first["images"][0]})
    assert status == 200
    params = parsed["parameters"]
    assert params["Clip skip schedule"] == "2@50%, 1"
    assert params["Negative clip skip"] == "3"
    if host_name() == "forge":
        # Forge's own `infotext` request field fails on any infotext (api.py:407, isinstance with
        # a parameterized generic): restore the panel from the parsed keys, as the paste does.
        _, schema = call("/clip-skip-control/v1/schema")
        restored = {f["name"]: params[f["infotext"]] for f in schema["fields"] if f["infotext"] in params}
        again = txt2img({"enabled": True, **restored})
    else:
        again = txt2img(None, infotext=parsed["info"])
    assert images(again) == images(first)


def error_text(answer):
    return answer.get("errors") or answer.get("message") or ""  # A1111 / Forge (api.py handle_exception)


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
    host = txt2img(override_settings={**BASE["override_settings"], "CLIP_stop_at_last_layers": 2}, **syntax)
    ours = txt2img({"enabled": True, "positive": "2"}, **syntax)
    assert len(images(ours)) == 4
    assert images(ours) == images(host)
    scheduled = txt2img({"enabled": True, "positive": "2@50%, 1"}, **syntax)
    assert images(scheduled) != images(ours)


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

    host = img2img(override_settings={**BASE["override_settings"], "CLIP_stop_at_last_layers": 2})
    assert img2img({"enabled": True, "positive": "2"}) == host
    assert img2img({"enabled": True, "positive": "2@50%, 1"}) != host


def test_auto_mode_chooses_per_prompt_and_explains():
    tags = "masterpiece, best quality, 1girl, solo, long hair, looking at viewer"
    auto = txt2img({"enabled": True, "mode": "Auto"}, prompt=tags)
    two = txt2img({"enabled": True, "positive": "2"}, prompt=tags)
    assert images(auto) == images(two)
    assert "Clip skip mode: auto" in infotext(auto)
    assert "Clip skip auto: tags 1.00 → 2" in infotext(auto)
    status, explained = call("/clip-skip-control/v1/explain?prompt=" + urllib.parse.quote(tags))
    assert status == 200
    assert (explained["style"], explained["skip"]) == ("tags", "2")


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
        assert "Saved 3" in request("POST", "/clip-skip-control/v1/checkpoint", {"value": "3"})["message"]
        saved = txt2img()
        assert images(saved) == images(txt2img({"enabled": True, "positive": "3"}))
        assert "Clip skip source: checkpoint 3 (user override)" in infotext(saved)
    finally:
        request("DELETE", "/clip-skip-control/v1/checkpoint")
    assert images(txt2img())[0] == host_skip_1
