"""Every host × family cell of DESIGN.md §2, written out independently of the implementation."""

import itertools

import pytest

from clip_skip_ext import conventions
from clip_skip_ext.conventions import ConventionError, Layer, describe, native_value, select, translate
from clip_skip_ext.schedule import parse


def L(n, norm):  # reads like the design table
    return Layer(n, norm)


# (host, family): (lowest value, highest value, value -> expected layers per encoder).
# Written from the hosts' code as quoted in DESIGN.md §2 and research/ecosystem.md §0.
TABLE = {
    ("a1111", "sd1"): (1, 13, lambda n: (L(n, True),)),
    ("a1111", "sd2"): (1, 24, lambda n: (L(2, True),)),
    ("a1111", "sdxl"): (1, 13, lambda n: (L(n, False), L(2, False))),
    ("forge", "sd1"): (1, 13, lambda n: (L(n, True),)),
    ("forge", "sd2"): (1, 24, lambda n: (L(n + 1, True),)),
    ("forge", "sdxl"): (1, 13, lambda n: (L(max(n, 2), False), L(max(n, 2), False))),
    ("reforge", "sd1"): (1, 13, lambda n: (L(n, True),)),
    ("reforge", "sd2"): (1, 25, lambda n: (L(max(n, 2), True),)),
    ("reforge", "sdxl"): (1, 13, lambda n: (L(max(n, 2), False), L(max(n, 2), False))),
    ("comfyui", "sd1"): (1, 24, lambda n: (L(n, True) if n <= 12 else L(1, True),)),
    ("comfyui", "sd2"): (1, 24, lambda n: (L(n, True),)),
    ("comfyui", "sdxl"): (1, 24, lambda n: (L(n, False) if n <= 12 else L(1, True), L(n, False))),
    ("diffusers", "sd1"): (0, 12, lambda k: (L(k + 1, True),)),
    ("diffusers", "sd2"): (0, 23, lambda k: (L(k + 2, True),)),
    ("diffusers", "sdxl"): (0, 11, lambda k: (L(k + 2, False), L(k + 2, False))),
    ("sdnext", "sd1"): (1, 12, lambda n: (L(n, True),)),
    ("sdnext", "sd2"): None,
    ("sdnext", "sdxl"): (0, 12, lambda n: (L(n + 1, False), L(n + 1, False))),
    ("kohya", "sd1"): (1, 12, lambda n: (L(n, True),)),
    ("kohya", "sd2"): None,
    ("kohya", "sdxl"): (1, 12, lambda n: (L(2, False), L(2, False))),
    # SDXL refiner (bigG alone) and SD3 (CLIP-L, bigG; T5 never moves), DESIGN.md §2 and
    # research/forge-internals.md §1.2 (Forge sdxl.py:180-204, sd35.py:56-99).
    ("a1111", "sdxl-refiner"): (1, 13, lambda n: (L(2, False),)),
    ("forge", "sdxl-refiner"): (1, 13, lambda n: (L(max(n, 2), False),)),
    ("reforge", "sdxl-refiner"): None,
    ("comfyui", "sdxl-refiner"): (1, 24, lambda n: (L(n, False),)),
    ("diffusers", "sdxl-refiner"): (0, 30, lambda k: (L(k + 2, False),)),
    ("sdnext", "sdxl-refiner"): None,
    ("kohya", "sdxl-refiner"): None,
    ("a1111", "sd3"): (1, 13, lambda n: (L(2, False), L(2, False))),
    ("forge", "sd3"): (1, 13, lambda n: (L(n, False), L(n, False))),
    ("reforge", "sd3"): None,
    ("comfyui", "sd3"): (1, 24, lambda n: (L(n, False) if n <= 12 else L(1, True), L(n, False))),
    ("diffusers", "sd3"): (0, 11, lambda k: (L(k + 2, False), L(k + 2, False))),
    ("sdnext", "sd3"): None,
    ("kohya", "sd3"): None,
    # Forge Neo 3df257ae: Forge's engines for SD1, SDXL and the refiner (sd15.py:26-37, sdxl.py:28-52,
    # :146-157; classic_engine.py:111); no SD2 or SD3 engine.
    ("neo", "sd1"): (1, 13, lambda n: (L(n, True),)),
    ("neo", "sd2"): None,
    ("neo", "sdxl"): (1, 13, lambda n: (L(max(n, 2), False), L(max(n, 2), False))),
    ("neo", "sdxl-refiner"): (1, 13, lambda n: (L(max(n, 2), False),)),
    ("neo", "sd3"): None,
    # Forge Classic (branch classic): modules_forge/forge_clip.py, SD1 as A1111 (:15-27), SD2 and SDXL
    # fixed (:30-97); no SD3.
    ("classic", "sd1"): (1, 13, lambda n: (L(n, True),)),
    ("classic", "sd2"): (1, 24, lambda n: (L(2, True),)),
    ("classic", "sdxl"): (1, 13, lambda n: (L(2, False), L(2, False))),
    ("classic", "sdxl-refiner"): (1, 13, lambda n: (L(2, False),)),
    ("classic", "sd3"): None,
}


def test_table_covers_every_cell():
    assert set(TABLE) == set(itertools.product(conventions.HOSTS, conventions.FAMILIES))
    assert set(conventions.RULES) == set(TABLE)


@pytest.mark.parametrize(("host", "family"), sorted(TABLE))
def test_cell(host, family):
    expected = TABLE[(host, family)]
    if expected is None:
        with pytest.raises(ConventionError, match="no documented clip skip numbering"):
            select(1, family, host)
        return
    low, high, layers = expected
    for value in range(low, high + 1):
        assert select(value, family, host) == layers(value), (host, family, value)
    for bad in (low - 1, high + 1):
        with pytest.raises(ConventionError, match=f"accepted: {low} to {high}"):
            select(bad, family, host)


def test_translation_round_trips_through_layers():
    for family, source, target in itertools.product(
        conventions.FAMILIES, conventions.HOSTS, conventions.HOSTS
    ):
        if TABLE[(source, family)] is None or TABLE[(target, family)] is None:
            continue
        low, high, _ = TABLE[(source, family)]
        target_low, target_high, _ = TABLE[(target, family)]
        reachable = {select(n, family, target) for n in range(target_low, target_high + 1)}
        for value in range(low, high + 1):
            result = translate(value, family, source, target)
            if result is None:
                assert select(value, family, source) not in reachable
            else:
                assert select(result, family, target) == select(value, family, source)


@pytest.mark.parametrize(
    ("value", "family", "source", "target", "expected"),
    [
        (2, "sdxl", "comfyui", "a1111", 2),  # the design card's example: native on both
        (-2, "sdxl", "comfyui", "a1111", 2),  # ComfyUI's own negative spelling
        (1, "sdxl", "comfyui", "a1111", None),  # last block of both encoders: A1111 can't move CLIP-G
        (1, "sdxl", "comfyui", "forge", None),  # Forge never goes above native on SDXL
        (2, "sdxl", "comfyui", "forge", 2),  # 1 and 2 are both native on Forge: keep the source's 2
        (0, "sdxl", "diffusers", "forge", 1),  # diffusers 0 is native; 0 is not a Forge value
        (3, "sdxl", "forge", "a1111", None),  # Forge moves CLIP-G too
        (3, "sdxl", "forge", "reforge", 3),
        (1, "sdxl", "a1111", "forge", None),  # A1111 1 = CLIP-L last block, CLIP-G native
        (2, "sd1", "a1111", "diffusers", 1),  # diffusers clip_skip=k is A1111 k+1
        (1, "sd1", "diffusers", "a1111", 2),
        (2, "sd1", "kohya", "forge", 2),
        (2, "sd2", "forge", "reforge", 3),  # Forge's 23-block engine: N = reForge N+1
        (1, "sd2", "forge", "a1111", 1),  # native: A1111 ignores the value
        (2, "sd2", "forge", "a1111", None),  # A1111 cannot leave the penultimate layer on SD2
        (5, "sdxl", "kohya", "a1111", 2),  # kohya ignores clip skip for SDXL: trained native
        (1.5, "sd1", "a1111", "diffusers", 0.5),
        (1.25, "sd1", "a1111", "forge", 1.25),
        (2.5, "sdxl", "forge", "a1111", None),  # blends CLIP-G, which A1111 cannot move
        (1.5, "sdxl", "forge", "a1111", 2),  # a blend of two identical (native) outputs
    ],
)
def test_translate_examples(value, family, source, target, expected):
    assert translate(value, family, source, target) == expected


def test_translate_to_itself_is_identity_up_to_equivalence():
    for (host, family), cell in TABLE.items():
        if cell is None:
            continue
        for value in range(cell[0], cell[1] + 1):
            result = translate(value, family, host, host)
            assert result == value


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: select(1, "sd1", "invoke"), "unknown host 'invoke'; expected one of a1111"),
        (lambda: select(1, "flux", "a1111"), "unknown model family 'flux'; expected one of sd1, sd2, sdxl"),
        (
            lambda: select(14, "sd1", "a1111"),
            "clip skip 14 is out of range for A1111 on SD1; accepted: 1 to 13",
        ),
        (lambda: select(1.5, "sd1", "a1111"), "1.5 is a blend"),
        (lambda: select("2", "sd1", "a1111"), "'2' is not a number"),
        (lambda: translate(float("nan"), "sd1", "a1111", "forge"), "nan is not a number"),
        (
            lambda: translate(2, "sd2", "sdnext", "forge"),
            "SD.Next has no documented clip skip numbering for SD2",
        ),
    ],
)
def test_errors_name_the_value_and_what_is_accepted(call, message):
    with pytest.raises(ConventionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_native_values():
    assert native_value("sd1", "a1111") == 1
    assert native_value("sdxl", "a1111") == 2
    assert native_value("sdxl", "forge") == 1
    assert native_value("sdxl", "comfyui") == 2
    assert native_value("sd2", "forge") == 1
    assert native_value("sd2", "reforge") == 1
    assert native_value("sd1", "diffusers") == 0


def test_describe_says_what_moves():
    assert describe(2, "sd1", "a1111") == "SD1: CLIP-L layer 11 of 12 + final norm"
    assert describe(1, "sd1", "forge") == "SD1: CLIP-L layer 12 of 12 + final norm (native)"
    assert describe(13, "sd1", "a1111") == "SD1: CLIP-L token embeddings + final norm"
    sdxl = describe(3, "sdxl", "a1111")
    assert sdxl.startswith(
        "SDXL on A1111: CLIP-L layer 10 of 12, no norm; CLIP-G layer 31 of 32, no norm (native)"
    )
    assert "only CLIP-L moves" in sdxl
    assert "never reads clip skip" in describe(4, "sd2", "a1111")
    assert describe(1.5, "sd1", "a1111") == (
        "SD1: CLIP-L 0.5×(layer 12 of 12 + final norm) + 0.5×(layer 11 of 12 + final norm)"
    )


def test_neo_and_forge_number_alike_where_both_load():
    for family in ("sd1", "sdxl", "sdxl-refiner"):
        for value in range(1, 14):
            assert translate(value, family, "forge", "neo") == value
    with pytest.raises(ConventionError, match="Forge Neo has no documented clip skip numbering for SD2"):
        select(1, "sd2", "neo")
    assert "Forge Neo has no engine for this family" in conventions.no_effect("neo", "sd3")


@pytest.mark.parametrize("family", ["wan", "qwen-image", "z-image", "lumina2", "anima", "flux2", "chroma"])
def test_families_without_clip_never_move_and_say_why(family):
    for host in conventions.HOSTS:
        assert not conventions.moves(host, family)
    reason = conventions.no_effect("neo", family)
    assert reason.startswith(
        f"this model has no CLIP text encoder: {conventions.FAMILY_NAMES[family]} on Forge Neo"
    )


def test_flux_on_neo_cites_neos_lines():
    assert "Forge Neo backend/diffusion_engine/flux.py:67-75" in conventions.no_effect("neo", "flux")
    assert "Forge backend/diffusion_engine/flux.py:83-92" in conventions.no_effect("forge", "flux")


def test_minimal_value_is_the_engines_minimal_clip_skip_the_rule_assumes():
    assert conventions.minimal_value("neo", "sd1") == 1
    assert conventions.minimal_value("neo", "sdxl") == 2  # sdxl.py:35, :48
    assert conventions.minimal_value("neo", "sdxl-refiner") == 2  # sdxl.py:153
    assert conventions.minimal_value("forge", "sd3") == 1
    assert conventions.minimal_value("neo", "sd2") is None
    assert conventions.minimal_value("classic", "sdxl") is None  # never moves


def test_a_schedule_translates_only_to_values_a_schedule_can_hold():
    # Forge SD2 24 is the token embeddings, which reForge numbers 25: no schedule can say that.
    assert translate(24, "sd2", "forge", "reforge") == 25
    translated, missing = conventions.translate_schedule(parse("24"), "sd2", "forge", "reforge")
    assert translated is None
    assert missing == [24.0]
    translated, missing = conventions.translate_schedule(parse("3@40%, 2"), "sd2", "forge", "reforge")
    assert str(translated) == "4@40%, 3"
    assert missing == []
