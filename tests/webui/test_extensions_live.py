"""Tier 3, issue 15: ADetailer, Dynamic Prompts and Regional Prompter installed beside the extension on
the live WebUI at CLIP_SKIP_WEBUI_URL. Each test is skipped when its extension is not installed there
(``/sdapi/v1/scripts``). Script args come from the host's ``/sdapi/v1/script-info``. The wildcard
test writes a file into Dynamic Prompts' wildcards folder, given by CLIP_SKIP_WILDCARDS when the host
runs on this machine.

ADetailer needs a face: scikit-image's astronaut (``skimage.data.astronaut()``; the test is skipped
without scikit-image) as the img2img init image, found by the mediapipe face detector that ships
inside the ``mediapipe`` wheel. A random-weight model paints noise even at low denoising, so
ADetailer's own "Skip img2img" is on: the main pass shrinks to one step and ADetailer details the
init image itself (its ``_ad_skip_img2img``), where mediapipe finds the face. What is compared is
pixels: the random-weight model's face pass changes with its conditioning, so equal pixels mean
equal conditioning in the detail pass.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import os
from pathlib import Path

import pytest
from test_live import BASE, URL, call, images, infotext, pixels

pytestmark = [pytest.mark.webui, pytest.mark.skipif(not URL, reason="CLIP_SKIP_WEBUI_URL is not set")]
TITLE = "Clip Skip Control"
WILDCARDS = os.environ.get("CLIP_SKIP_WILDCARDS", "")  # Dynamic Prompts' wildcards folder, on this machine


@functools.cache
def installed() -> set[str]:
    _, scripts = call("/sdapi/v1/scripts")
    return {name.lower() for name in scripts.get("txt2img", []) + scripts.get("img2img", [])}


def needs(name: str):
    return pytest.mark.skipif(bool(URL) and name not in installed(), reason=f"{name} is not installed")


@functools.cache
def info(name: str, img2img: bool) -> dict:
    _, every = call("/sdapi/v1/script-info")
    return next(s for s in every if s["name"] == name and s["is_img2img"] == img2img)


def args_of(name: str, img2img: bool = False, **by_label) -> list:
    script = info(name, img2img)
    args = [arg["value"] for arg in script["args"]]
    labels = [arg["label"] for arg in script["args"]]
    for key, value in by_label.items():
        args[labels.index(key.replace("_", " "))] = value
    return args


def panel(value: str | None) -> list:
    return [value is not None, value or "", "", "", "", "Manual"]


def generate(kind: str, host_skip: int, scripts: dict[str, list], **changes) -> dict:
    body = {**BASE, **changes}
    body["override_settings"] = {**BASE["override_settings"], "CLIP_stop_at_last_layers": host_skip}
    body["alwayson_scripts"] = {name: {"args": args} for name, args in scripts.items()}
    status, answer = call(f"/sdapi/v1/{kind}", body)
    assert status == 200, answer
    return answer


# ---- ADetailer ---------------------------------------------------------------------------------------------


@functools.cache
def astronaut() -> str:
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(skimage_data.astronaut()).resize((256, 256)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def adetailer(separate: int | None = None) -> list:
    args = args_of("adetailer", img2img=True)
    first = next(i for i, arg in enumerate(args) if isinstance(arg, dict))
    args[0] = True  # ADetailer on
    args[1] = True  # its "Skip img2img": detail the astronaut itself (see the module docstring)
    args[first] = {
        **args[first],
        "ad_model": "mediapipe_face_full",
        "ad_confidence": 0.3,
        "ad_denoising_strength": 0.5,
        "ad_use_steps": True,
        "ad_steps": 4,
        "ad_use_clip_skip": separate is not None,
        "ad_clip_skip": separate or 1,
    }
    for other in range(first + 1, len(args)):
        if isinstance(args[other], dict):
            args[other] = {**args[other], "ad_model": "None", "ad_tab_enable": False}
    return args


def face(host_skip: int, value: str | None, separate: int | None = None, with_adetailer: bool = True) -> dict:
    scripts = {TITLE: panel(value)}
    if with_adetailer:
        scripts["ADetailer"] = adetailer(separate)
    return generate(
        "img2img",
        host_skip,
        scripts,
        init_images=[astronaut()],
        denoising_strength=0.3,
        width=256,
        height=256,
        steps=4,
        prompt="a photo of an astronaut, portrait, detailed face",
    )


@needs("adetailer")
def test_adetailers_detail_pass_uses_the_panels_skip():
    ours = face(1, "2")  # panel 2 over the host's 1
    text = infotext(ours)
    assert "ADetailer model: mediapipe_face_full" in text, text  # a face was found and repainted
    assert "Clip skip ADetailer: same as the image (2)" in text, text
    host = face(2, None)  # the host's own 2 for both passes
    assert images(ours) == images(host)
    # What the detail pass did before (face at the host's 1, the image at 2) is another image:
    # the face pass's skip shows in the pixels, so the equality above could fail.
    assert images(face(1, "2", separate=1)) != images(ours)
    assert images(face(1, None)) != images(ours)
    assert images(face(1, "2", with_adetailer=False)) != images(ours)  # ADetailer changed the image


@needs("adetailer")
def test_adetailers_separate_clip_skip_wins_and_is_named():
    ours = face(1, "2", separate=3)
    text = infotext(ours)
    assert "Clip skip ADetailer: ADetailer's own 3 (its Use separate CLIP skip is on)" in text, text
    assert images(ours) == images(face(2, None, separate=3))
    options = call("/sdapi/v1/options")[1]
    assert options.get("ad_script_names", "").split(",").count("clip_skip") == 0  # never joined


@needs("adetailer")
@pytest.mark.parametrize("tab", ["txt2img", "img2img"])
def test_the_status_line_reads_adetailers_fields(tab):
    # The page's own wiring (Gradio's /config): the status line's refresh reads ADetailer's fields;
    # then that refresh is run as the page runs it (/run/predict, Gradio 3.41) with its fields set.
    _, config = call("/config")
    components = {c["id"]: c for c in config["components"]}
    ids = {c.get("props", {}).get("elem_id"): c["id"] for c in config["components"]}
    status, refresh = ids[f"clip_skip_{tab}_status"], ids[f"clip_skip_{tab}_refresh"]
    theirs = {ids[f"script_{tab}_adetailer_ad_use_clip_skip"], ids[f"script_{tab}_adetailer_ad_clip_skip"]}
    index, wired = next(
        (i, d)
        for i, d in enumerate(config["dependencies"])
        if status in d["outputs"]
        and any(refresh in (t if isinstance(t, list) else [t]) for t in d["targets"])
    )
    assert theirs <= set(wired["inputs"])

    def line(**fields) -> str:
        given = {f"clip_skip_{tab}_enabled-checkbox": True, f"clip_skip_{tab}_positive": "2", **fields}
        data = [
            given.get(components[c]["props"].get("elem_id"), components[c]["props"].get("value"))
            for c in wired["inputs"]
        ]
        code, answer = call("/run/predict", {"fn_index": index, "data": data})
        if code == 404:
            pytest.skip("this Gradio has no /run/predict")
        assert code == 200, answer
        return answer["data"][0].split("<svg")[0]

    ad = f"script_{tab}_adetailer_"
    assert "ADetailer" not in line()
    assert "ADetailer 1st: the image&#x27;s skip" in line(**{ad + "ad_main_accordion-checkbox": True})
    separate = {
        ad + "ad_main_accordion-checkbox": True,
        ad + "ad_use_clip_skip": True,
        ad + "ad_clip_skip": 3,
    }
    assert "ADetailer 1st: its own CLIP skip 3 (its Use separate CLIP skip is on)" in line(**separate)


# ---- Dynamic Prompts --------------------------------------------------------------------------------------


DYNAMIC = "dynamic prompts v2.17.1"


def at_host_skip(skip: int, seeds: list[int]) -> list[bytes]:
    """The batch at the host's own ``skip``, Dynamic Prompts off, the same seeds: a batch of the same
    size, since the model's batched arithmetic differs in the last bit from one image alone."""
    assert seeds == list(range(seeds[0], seeds[0] + len(seeds))), seeds  # the host's seed, seed + 1, ...
    off = args_of(DYNAMIC, Dynamic_Prompts_enabled=False)
    answer = generate(
        "txt2img",
        skip,
        {TITLE: panel(None), DYNAMIC: off},
        prompt=" a photo of a cat",
        seed=seeds[0],
        batch_size=len(seeds),
    )
    return images(answer)


def check_each_image(ours: dict, skips: tuple[int, ...]) -> None:
    seeds = json.loads(ours["info"])["all_seeds"]
    for index, skip in enumerate(skips):
        assert images(ours)[index] == at_host_skip(skip, seeds)[index], f"image {index} is not at skip {skip}"
        assert "Clip skip source: prompt" in infotext(ours, index)
        assert f"<clipskip:{skip}>" in infotext(ours, index)  # pasting the image gives its skip back


@needs(DYNAMIC)
def test_dynamic_prompts_variants_of_directives():
    combinatorial = args_of(DYNAMIC, Combinatorial_generation=True)
    ours = generate(
        "txt2img",
        1,
        {TITLE: panel(None), DYNAMIC: combinatorial},
        prompt="{<clipskip:1>|<clipskip:2>} a photo of a cat",
        batch_size=2,
    )
    details = json.loads(ours["info"])
    assert details["all_prompts"] == ["<clipskip:1> a photo of a cat", "<clipskip:2> a photo of a cat"]
    check_each_image(ours, (1, 2))


@needs(DYNAMIC)
@pytest.mark.skipif(
    not WILDCARDS, reason="CLIP_SKIP_WILDCARDS (Dynamic Prompts' wildcards folder) is not set"
)
def test_a_wildcard_file_may_carry_directives():
    # A wildcard file on the host's machine (Dynamic Prompts' wildcards folder, its option
    # wildcard_dir), each line with its own directive; removed afterwards.
    name = f"clip_skip_test_{os.getpid()}"
    path = Path(WILDCARDS) / f"{name}.txt"
    lines = "<clipskip:1> a photo of a cat\n<clipskip:2> a photo of a cat\n"  # in its sorted order
    path.write_text(lines, encoding="utf-8")
    try:
        combinatorial = args_of(DYNAMIC, Combinatorial_generation=True)
        ours = generate(
            "txt2img", 1, {TITLE: panel(None), DYNAMIC: combinatorial}, prompt=f"__{name}__", batch_size=2
        )
    finally:
        path.unlink()
    details = json.loads(ours["info"])
    assert details["all_prompts"] == lines.splitlines()
    check_each_image(ours, (1, 2))


# ---- Regional Prompter ------------------------------------------------------------------------------------


def regional(mode: str, value: str | None, host_skip: int) -> bytes:
    rp = args_of("regional prompter", Regional_Prompter=True, Generation_Mode=mode, Divide_Ratio="1,1")
    answer = generate(
        "txt2img",
        host_skip,
        {TITLE: panel(value), "regional prompter": rp},
        prompt="a red cat BREAK a blue dog",
        width=128,
        height=64,
        steps=4,
    )
    return pixels(answer["images"][0])


@needs("regional prompter")
@pytest.mark.parametrize("mode", ["Attention", "Latent"])
def test_regional_prompter_parity_and_a_switching_schedule(mode):
    two = regional(mode, "2", 1)
    assert two == regional(mode, None, 2)  # panel 2 is the host's 2, regions and all
    assert two != regional(mode, None, 1)
    schedule = regional(mode, "2@50%, 1", 1)
    assert schedule not in (two, regional(mode, None, 1))  # it switched mid-way
