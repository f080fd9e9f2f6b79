"""The adapter on Forge Neo (nolanlane/sd-webui-forge-classic 3df257ae, Haoming02's branch neo): the Forge
fake (tests/fake_host/backend) with Neo's differences (backend/neo_engines.py, shared.NEO_OPTIONS,
modules/infotext_utils.py), compared bit for bit with Neo's own Clip skip. Neo's get_conds_with_caching
is Forge's line for line (processing.py:431-477: set_clip_skip at :461), so the hook is the same."""

import html
import importlib.machinery
from pathlib import Path

import pytest
from backend import diffusion_engine as engines
from backend import neo_engines
from forge_support import host_at, run, same, same_calls, tiny_t5
from modules import infotext_utils, shared

from clip_skip_ext import params
from clip_skip_ext.webui import api, host, host_probe, ui
from clip_skip_ext.webui.ui import status_html

FAKE = Path(__file__).resolve().parents[1] / "fake_host"
VERSIONS = FAKE / "forge_versions"
NO_CLIP = "this model has no CLIP text encoder"


@pytest.fixture
def neo(load, monkeypatch):
    """Neo's host name and its own default Clip skip 2 (shared_options.py:224)."""
    monkeypatch.setattr(host, "host_name", lambda: "neo")
    for key, info in shared.NEO_OPTIONS.items():
        monkeypatch.setitem(shared.opts.data_labels, key, info)
    return load


@pytest.fixture
def sd1(neo, make_clip):
    return neo(neo_engines.NeoSD1(make_clip(layers=12, seed=8)))


@pytest.fixture
def sdxl(neo, make_clip):
    return neo(neo_engines.NeoSDXL(make_clip(layers=12, seed=9), make_clip(layers=16, seed=10)))


@pytest.fixture
def probe_in(monkeypatch):
    """Point the host probe at folders (instead of sys.path), as if the WebUI's root held them."""

    def point(*folders):
        paths = [str(folder) for folder in folders]
        monkeypatch.setattr(
            host_probe, "_spec", lambda name: importlib.machinery.PathFinder.find_spec(name, paths)
        )
        host_probe._cached.cache_clear()
        return host_probe.probe()

    yield point
    host_probe._cached.cache_clear()


def test_the_probe_names_every_forge_line(probe_in, tmp_path):
    assert probe_in(VERSIONS / "neo", FAKE) == "neo"  # forge_version.py:1 "neo", backend/ present
    assert probe_in(VERSIONS / "forge", FAKE) == "forge"
    # Forge Classic (branch classic 1f95d717): modules_forge with forge_clip.py, no backend/
    assert probe_in(VERSIONS / "classic") == "classic"
    assert probe_in(FAKE) == "a1111"  # no modules_forge
    reforge = tmp_path / "reforge" / "modules_forge"
    reforge.mkdir(parents=True)
    (reforge / "forge_version.py").write_text("version = '1.0.0v2-v1.10.1RC'\n")
    assert probe_in(tmp_path / "reforge") == "reforge"
    # a Neo whose forge_version.py says something else is still told by its engines
    (tmp_path / "other" / "modules_forge").mkdir(parents=True)
    (tmp_path / "other" / "backend" / "diffusion_engine").mkdir(parents=True)
    (tmp_path / "other" / "backend" / "diffusion_engine" / "wan.py").write_text("")
    assert probe_in(tmp_path / "other") == "neo"


@pytest.mark.parametrize("skip", [1, 2, 5])
def test_sd1_parity_with_neos_own_clip_skip(script, sd1, skip):
    _, ours = run(script, [True, str(skip)])
    assert same_calls(ours, host_at(skip))


def test_neos_default_clip_skip_2_is_the_host_value(script, sd1):
    assert host.host_clip_skip("sd1") == 2
    assert same_calls(run()[1], host_at(2))
    _, ours = run(script, [True, "", "3"])  # the positive prompt is left to the host: Neo's 2
    at = {n: host_at(n) for n in (2, 3)}
    for call, (c, uc) in enumerate(ours):
        assert same(c, at[2][call][0])
        assert same(uc, at[3][call][1])
    assert "host Clip skip 2" in status_html(True, "", "", "", "", "Manual")


@pytest.mark.parametrize("skip", [1, 2, 3])
def test_sdxl_parity_on_neo(script, sdxl, skip):
    _, ours = run(script, [True, str(skip)])
    assert same_calls(ours, host_at(skip))
    if skip == 1:  # minimal_clip_skip=2 on both engines (sdxl.py:35, :48)
        assert same_calls(ours, host_at(2))
    assert "SDXL on Forge Neo" in status_html(True, str(skip), "", "", "", "Manual")


def test_sdxl_empty_negative_is_encoded_without_sdxl_zero_neg(script, sdxl):
    """Neo zeroes an empty negative only with opts.sdxl_zero_neg, off by default (sdxl.py:86)."""
    _, ours = run(script, [True, "3", "4"], negative_prompt="")
    assert all(call[1]["crossattn"].any() for call in ours)
    assert same_calls(ours, run(script, [True, "3", "4"], negative_prompt="")[1])
    at = {n: host_at(n, negative_prompt="") for n in (3, 4)}
    for call, (c, uc) in enumerate(ours):
        assert same(c, at[3][call][0])
        assert same(uc, at[4][call][1])


@pytest.mark.parametrize(
    ("build", "family", "name", "encoder"),
    [
        (lambda: neo_engines.Wan(tiny_t5(seed=4)), "wan", "Wan", "UMT5-XXL"),
        (lambda: neo_engines.QwenImage(tiny_t5(seed=5)), "qwen-image", "Qwen-Image", "Qwen2.5-VL"),
    ],
)
def test_engines_without_clip_are_left_alone_and_say_why(script, neo, build, family, name, encoder):
    model = neo(build())
    assert host.current_family() == family  # Wan holds text_processing_engine_t5 too: not Chroma
    p, ours = run(script, [True, "3@50%, 1", "2"])
    assert len(model.encodes) == 2  # one positive, one negative: nothing encoded extra
    assert same_calls(ours, host_at(1))
    reason = f"{NO_CLIP}: {name} on Forge Neo reads {encoder}"
    assert p.extra_generation_params["Clip skip source"].startswith(f"none ({reason}")
    assert f"Clip skip has no effect here: {reason}" in status_html(True, "3", "", "", "", "Manual")
    assert "No model loaded" not in status_html(False, "", "", "", "", "Manual")
    assert api.describe("2")["status"].startswith(f"Clip skip has no effect here: {reason}")


def test_flux_on_neo_has_no_effect_citing_neo(script, neo, make_clip):
    flux = neo(neo_engines.Flux(make_clip(layers=12, seed=14), tiny_t5()))
    assert host.current_family() == "flux"
    p, ours = run(script, [True, "3", "2"])
    assert {skip for _, skip in flux.encodes} == {2}  # Neo's default, set by the host; nothing else
    assert same_calls(ours, host_at(2))
    assert same_calls(host_at(1), host_at(3))  # the CLIP-L sequence is dropped (flux.py:67-75)
    assert "Forge Neo backend/diffusion_engine/flux.py:67-75" in p.extra_generation_params["Clip skip source"]


def test_minimal_clip_skip_is_read_from_the_engines(script, sdxl, monkeypatch):
    assert host.engine_minimal(sdxl) == 2
    assert host.minimal_note("sdxl") is None
    assert "warning" not in api.describe("1")
    for engine in (sdxl.text_processing_engine_l, sdxl.text_processing_engine_g):
        monkeypatch.setattr(engine, "minimal_clip_skip", 1)  # as Neo had it once (issue 11)
    note = host.minimal_note("sdxl")
    assert "minimal_clip_skip is 1" in note
    assert "assumes 2" in note
    assert html.escape(note) in status_html(True, "1", "", "", "", "Manual")
    assert api.describe("1")["warning"] == note
    _, ours = run(script, [True, "1"])  # images still follow the engines: 1 is the last layer now
    assert same_calls(ours, host_at(1))
    assert not same_calls(ours, host_at(2))


def test_describe_names_forge_neo(sdxl):
    described = api.describe("3")
    assert described["host"] == "neo"
    assert described["host_name"] == "Forge Neo"
    assert described["status"].startswith("positive 3: SDXL on Forge Neo")


def test_our_infotext_keys_round_trip_through_neos_parser(script, sd1):
    args = [True, "2@40%, 1", "3", "", "1", "Manual"]
    p, _ = run(script, args)
    line = infotext_utils.create_infotext_line({"Steps": 4, "Clip skip": 2, **p.extra_generation_params})
    parsed = infotext_utils.parse_generation_parameters(line)
    assert "Clip skip" not in parsed  # Neo drops the host's own (infotext_utils.py:335)
    components = [object() for _ in params.PARAMS]
    pasted = dict(infotext_utils.paste(ui.infotext_fields(components), parsed))
    restored = [pasted.get(component) for component in components]
    assert restored == [True, "2@40%, 1", "3", None, "1", None]  # None: left as it is (the default)


def test_the_forge_fake_is_still_forge(load, make_clip):
    """Neo's engines do not change Forge's: the SDXL empty negative stays zeros there (sdxl.py:109-114)."""
    load(engines.ForgeSDXL(make_clip(layers=12, seed=9), make_clip(layers=16, seed=10)))
    assert all(not call[1]["crossattn"].any() for call in host_at(2, negative_prompt=""))


def test_loras_are_found_in_neos_extra_lora_dirs(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from clip_skip_ext.webui import lora

    options = SimpleNamespace(lora_dir=str(tmp_path / "a"), lora_dirs=[str(tmp_path / "b")])  # cmd_args.py:83
    monkeypatch.setattr(shared, "cmd_opts", options, raising=False)
    assert lora._dirs() == (str(tmp_path / "a"), str(tmp_path / "b"))
