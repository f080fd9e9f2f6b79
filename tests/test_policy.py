"""Tests of the Auto-mode policy (clip_skip_ext.policy)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clip_skip_ext import adaptive, conventions
from clip_skip_ext.conventions import ConventionError
from clip_skip_ext.policy import (
    DEFAULT_POLICY,
    DEFAULT_POLICY_TEXT,
    FAMILIES,
    MAX_TEXT,
    NUMBERINGS,
    STYLES,
    Decision,
    Policy,
    PolicyError,
    PolicyValue,
    decide,
    has_words,
)
from clip_skip_ext.schedule import format_value, parse

ROOT = Path(__file__).resolve().parents[1]

TAGS = "masterpiece, best quality, 1girl, solo, long hair, looking at viewer"
PROSE = "A photo of an old man reading a newspaper in a quiet cafe."
MIXED = "1girl, solo, a girl reading a letter under a tree, spring, petals"
PROMPTS = {"tags": TAGS, "prose": PROSE, "mixed": MIXED}


def test_the_sample_prompts_have_the_styles_the_tests_assume() -> None:
    for label, prompt in PROMPTS.items():
        assert adaptive.classify(prompt).label == label, prompt


# --------------------------------------------------------------------------------------------------
# The shipped policy


def test_default_text_parses_to_the_default_policy() -> None:
    assert Policy.parse(DEFAULT_POLICY_TEXT) == DEFAULT_POLICY
    assert DEFAULT_POLICY.numbering == "a1111"
    assert len(DEFAULT_POLICY.rules) == 9  # every family and style has a rule


@pytest.mark.parametrize(
    ("family", "style", "text"),
    [
        ("sd1", "tags", "2"),
        ("sd1", "prose", "1"),
        ("sd1", "mixed", "checkpoint or 2"),
        ("sd2", "tags", "checkpoint"),
        ("sd2", "prose", "checkpoint"),
        ("sd2", "mixed", "checkpoint"),
        ("sdxl", "tags", "checkpoint or 2"),
        ("sdxl", "prose", "checkpoint or 2"),
        ("sdxl", "mixed", "checkpoint or 2"),
    ],
)
def test_default_rules(family: str, style: str, text: str) -> None:
    assert str(DEFAULT_POLICY.get(family, style)) == text


def test_sdxl_default_fallback_is_the_native_layer_on_a1111() -> None:
    """'clip skip 2' for SDXL means the native penultimate layers (ecosystem.md §0)."""
    assert conventions.select(2, "sdxl", "a1111") == tuple(e.native for e in conventions.ENCODERS["sdxl"])


# --------------------------------------------------------------------------------------------------
# Text format


def test_format_is_canonical_and_round_trips() -> None:
    text = DEFAULT_POLICY.format()
    assert text.splitlines()[:3] == ["numbering: a1111", "sd1 tags: 2", "sd1 prose: 1"]
    assert Policy.parse(text) == DEFAULT_POLICY
    assert Policy.parse(text).format() == text


def test_parse_accepts_comments_blank_lines_case_and_spacing() -> None:
    text = """
    # a comment
      SD1   Tags :  2 @ 50 % ,1    # trailing comment
    sdxl mixed: Checkpoint  OR  native
    Numbering: Forge
    sd2 prose: native
    """
    policy = Policy.parse(text)
    assert policy.numbering == "forge"
    assert str(policy.get("sd1", "tags")) == "2@50%, 1"
    assert policy.get("sdxl", "mixed") == PolicyValue(None, True)
    assert str(policy.get("sdxl", "mixed")) == "checkpoint"  # "checkpoint or native" says the same
    assert str(policy.get("sd2", "prose")) == "native"
    assert policy.get("sd1", "prose") is None
    assert Policy.parse(policy.format()) == policy


def test_rules_are_kept_in_canonical_order_and_compare_by_content() -> None:
    a = Policy.parse("sdxl tags: 2\nsd1 prose: 1\n")
    b = Policy.parse("sd1 prose: 1\nsdxl tags: 2\n")
    assert a == b
    assert hash(a) == hash(b)
    assert [rule[:2] for rule in a.rules] == [("sd1", "prose"), ("sdxl", "tags")]


def test_empty_text_is_an_empty_policy() -> None:
    assert Policy.parse("") == Policy()
    assert Policy.parse("# only a comment\n\n") == Policy()
    assert Policy().format() == "numbering: a1111\n"


@pytest.mark.parametrize(
    ("text", "line", "fragments"),
    [
        ("sd1 tags: 2\nsd3 tags: 2", 2, ["'sd3 tags: 2'", "unknown model family 'sd3'", "sd1, sd2, sdxl"]),
        ("sd1 tgs: 2", 1, ["unknown style 'tgs'", "tags, prose, mixed"]),
        ("\n\nsd1 tags 2", 3, ["'sd1 tags 2'", "FAMILY STYLE: VALUE"]),
        ("sd1: 2", 1, ["FAMILY STYLE: VALUE", "got 'sd1'"]),
        ("sd1 tags extra: 2", 1, ["FAMILY STYLE: VALUE"]),
        ("# c\nsd1 mixed: 2@50%,,1", 2, ["clip skip schedule '2@50%,,1'", "unexpected ','", "character 7"]),
        ("sd1 tags: 2@40%", 1, ["the last item has an @"]),
        ("sd1 tags: 20", 1, ["clip skip 20 is out of range for A1111 on SD1", "accepted: 1 to 13"]),
        ("sd1 tags:", 1, ["no value after ':'", "checkpoint or VALUE"]),
        ("sd1 tags: default", 1, ["unknown value 'default'", '"native", "checkpoint"']),
        ("sd1 tags: checkpoint 2", 1, ["expected 'checkpoint' or 'checkpoint or VALUE'"]),
        ("sd1 tags: checkpoint or", 1, ["expected 'checkpoint' or 'checkpoint or VALUE'"]),
        ("sd1 tags: checkpoint or checkpoint", 1, ["says the same thing twice"]),
        ("sd1 tags: checkpoint or 2@x", 1, ["clip skip schedule '2@x'", "unexpected 'x'"]),
        ("sd1 tags: 2\n\nsd1 tags: 1", 3, ["a second rule for sd1 tags (the first is line 1)"]),
        ("numbering: diffusers", 1, ["unknown numbering 'diffusers'", "a1111, forge, reforge, comfyui"]),
        ("numbering: a1111\nnumbering: forge", 2, ["a second numbering line (the first is line 1)"]),
    ],
)
def test_parse_errors_name_the_line_the_text_and_what_is_accepted(
    text: str, line: int, fragments: list[str]
) -> None:
    with pytest.raises(PolicyError) as caught:
        Policy.parse(text)
    message = str(caught.value)
    assert message.startswith(f"policy line {line} "), message
    assert caught.value.line == line
    for fragment in fragments:
        assert fragment in message, message


def test_range_is_checked_in_the_numbering_the_text_declares_wherever_that_line_is() -> None:
    # 20 is fine for ComfyUI SD1 (CLIPSetLastLayer -20 exists there), not for A1111 SD1
    assert str(Policy.parse("sd1 tags: 20\nnumbering: comfyui").get("sd1", "tags")) == "20"
    with pytest.raises(PolicyError, match=r"policy line 1 .*out of range for A1111 on SD1.*numbering: a1111"):
        Policy.parse("sd1 tags: 20")


def test_text_that_is_too_long_or_not_text() -> None:
    with pytest.raises(PolicyError, match="the limit is 20,000"):
        Policy.parse("#" * (MAX_TEXT + 1))
    with pytest.raises(PolicyError, match="expected text, got int"):
        Policy.parse(2)  # type: ignore[arg-type]


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(PolicyError, match="out of range"):
        Policy.from_rules({("sd1", "tags"): "20"})
    with pytest.raises(PolicyError, match="unknown numbering"):
        Policy(numbering="sdnext")
    with pytest.raises(PolicyError, match="two rules"):
        Policy((("sd1", "tags", PolicyValue.parse("2")), ("sd1", "tags", PolicyValue.parse("1"))))
    with pytest.raises(PolicyError, match="unknown family/style"):
        Policy((("sd1", "sentences", PolicyValue.parse("2")),))
    assert Policy.from_rules({("sd1", "tags"): "2"}) == Policy.parse("sd1 tags: 2")


@st.composite
def schedule_texts(draw: st.DrawFn, high: int) -> str:
    value = st.one_of(st.integers(1, high), st.integers(100, high * 100).map(lambda v: v / 100))
    kind = draw(st.sampled_from(["constant", "per-step", "at"]))
    if kind == "constant":
        return format_value(draw(value))
    if kind == "per-step":
        return ", ".join(format_value(v) for v in draw(st.lists(value, min_size=2, max_size=5)))
    ends = sorted(draw(st.sets(st.integers(1, 99), min_size=1, max_size=4)))
    body = [f"{format_value(draw(value))}@{end}%" for end in ends]
    return ", ".join([*body, format_value(draw(value))])


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    numbering = draw(st.sampled_from(NUMBERINGS))
    rules = {}
    for family in FAMILIES:
        high = min(conventions.rule(numbering, family).high, 24)
        for style in STYLES:
            if not draw(st.booleans()):
                continue
            schedule = draw(st.none() | schedule_texts(high))
            checkpoint = draw(st.booleans())
            rules[(family, style)] = PolicyValue(None if schedule is None else parse(schedule), checkpoint)
    return Policy.from_rules(rules, numbering)


@settings(max_examples=200, deadline=None)
@given(policies())
def test_parse_format_round_trip_property(policy: Policy) -> None:
    text = policy.format()
    assert Policy.parse(text) == policy
    assert Policy.parse(text).format() == text


# --------------------------------------------------------------------------------------------------
# Decisions with the shipped policy


@pytest.mark.parametrize(("style", "skip"), [("tags", "2"), ("prose", "1"), ("mixed", "2")])
def test_sd1_defaults_per_style_on_a1111(style: str, skip: str) -> None:
    decision = decide(PROMPTS[style], "sd1", "a1111")
    assert (decision.style, decision.skip, decision.source) == (style, skip, "policy")
    assert decision.reasons[0].startswith(f"prompt reads as {style} (")
    assert f"score {decision.score:.2f}" in decision.reasons[0]
    assert f"policy rule '{decision.rule}' (A1111 numbering)" in decision.reasons
    assert decision.evidence == adaptive.classify(PROMPTS[style]).reasons


def test_reasons_say_what_the_skip_does_on_the_model() -> None:
    decision = decide(TAGS, "sd1", "a1111")
    assert decision.reasons[-1] == "skip 2: SD1: CLIP-L layer 11 of 12 + final norm"


@pytest.mark.parametrize(
    ("family", "host", "skip"),
    [
        ("sdxl", "a1111", "2"),
        ("sdxl", "forge", "2"),
        ("sdxl", "reforge", "2"),
        ("sdxl", "comfyui", "2"),  # CLIPSetLastLayer(-2), the native layer; -1 is not
        ("sdxl", "diffusers", "0"),
        ("sdxl", "sdnext", "1"),
        ("sd2", "a1111", "1"),
        ("sd2", "forge", "1"),
        ("sd2", "comfyui", "2"),
    ],
)
def test_sdxl_and_sd2_stay_native_for_every_style(family: str, host: str, skip: str) -> None:
    native = tuple(e.native for e in conventions.ENCODERS[family])
    for prompt in PROMPTS.values():
        decision = decide(prompt, family, host)
        assert decision.skip == skip, decision.reasons
        assert conventions.select(int(skip), family, host) == native


@pytest.mark.parametrize(
    ("host", "tags", "prose"),
    [
        ("a1111", "2", "1"),
        ("forge", "2", "1"),
        ("reforge", "2", "1"),
        ("comfyui", "2", "1"),
        ("diffusers", "1", "0"),
    ],
)
def test_sd1_defaults_are_translated_to_the_host(host: str, tags: str, prose: str) -> None:
    assert decide(TAGS, "sd1", host).skip == tags
    assert decide(PROSE, "sd1", host).skip == prose
    # the same layers as the A1111 values
    for prompt, a1111 in ((TAGS, 2), (PROSE, 1)):
        skip = float(decide(prompt, "sd1", host).skip)
        assert conventions.select(int(skip), "sd1", host) == conventions.select(a1111, "sd1", "a1111")


def test_a_translation_is_explained() -> None:
    decision = decide(TAGS, "sd1", "diffusers")
    assert "2 in A1111 numbering is 1 on diffusers" in decision.reasons
    assert not any("numbering is" in r for r in decide(TAGS, "sd1", "a1111").reasons)


# --------------------------------------------------------------------------------------------------
# Translation of custom policies


def test_a_schedule_is_translated_value_by_value_and_keeps_its_form() -> None:
    policy = Policy.parse("sd1 mixed: 2@50%, 1.5\nsd1 tags: 9, 7, 4\n")
    assert decide(MIXED, "sd1", "a1111", policy).skip == "2@50%, 1.5"
    assert decide(MIXED, "sd1", "forge", policy).skip == "2@50%, 1.5"
    assert decide(MIXED, "sd1", "comfyui", policy).skip == "2@50%, 1.5"
    assert decide(MIXED, "sd1", "diffusers", policy).skip == "1@50%, 0.5"
    assert decide(TAGS, "sd1", "diffusers", policy).skip == "8, 6, 3"
    decision = decide(MIXED, "sd1", "diffusers", policy)
    assert "2@50%, 1.5 in A1111 numbering is 1@50%, 0.5 on diffusers" in decision.reasons
    assert decision.reasons[-2:] == (
        "skip 1: SD1: CLIP-L layer 11 of 12 + final norm",
        "skip 0.5: SD1: CLIP-L 0.5×(layer 12 of 12 + final norm) + 0.5×(layer 11 of 12 + final norm)",
    )


def test_a_value_without_equivalent_falls_back_to_the_native_layer_and_says_so() -> None:
    # A1111 SDXL 3 moves only CLIP-L; on Forge CLIP-L and CLIP-G always move together
    policy = Policy.parse("sdxl tags: 3@50%, 2")
    assert decide(TAGS, "sdxl", "a1111", policy).skip == "3@50%, 2"
    decision = decide(TAGS, "sdxl", "forge", policy)
    assert (decision.skip, decision.source) == ("2", "native")
    assert "3 in A1111 numbering has no equivalent on SDXL on Forge: using the host's native layer, 2" in (
        decision.reasons
    )


def test_a_policy_in_forge_numbering() -> None:
    policy = Policy.parse("numbering: forge\nsdxl tags: 3\nsd2 tags: 3\nsd1 tags: 2\n")
    assert decide(TAGS, "sdxl", "forge", policy).skip == "3"  # both encoders one layer deeper
    assert decide(TAGS, "sdxl", "reforge", policy).skip == "3"
    assert decide(TAGS, "sdxl", "comfyui", policy).skip == "3"
    on_a1111 = decide(TAGS, "sdxl", "a1111", policy)
    assert (on_a1111.skip, on_a1111.source) == ("2", "native")  # A1111 cannot move CLIP-G
    assert "policy rule 'sdxl tags: 3' (Forge numbering)" in on_a1111.reasons
    sd2 = decide(TAGS, "sd2", "a1111", policy)
    assert (sd2.skip, sd2.source) == ("1", "native")  # A1111 ignores clip skip on SD2
    assert decide(TAGS, "sd2", "comfyui", policy).skip == "4"  # Forge's 23-block engine: 3 is 4 elsewhere
    assert decide(TAGS, "sd1", "a1111", policy).skip == "2"


def test_a_policy_in_comfyui_numbering_is_written_without_the_minus() -> None:
    policy = Policy.parse("numbering: comfyui\nsdxl tags: 2\nsdxl prose: 1\n")
    assert decide(TAGS, "sdxl", "a1111", policy).skip == "2"
    assert decide(PROSE, "sdxl", "comfyui", policy).skip == "1"  # the last block, as written
    assert decide(PROSE, "sdxl", "a1111", policy).source == "native"  # A1111 cannot move CLIP-G


# --------------------------------------------------------------------------------------------------
# The checkpoint's known default


def test_checkpoint_or_value_takes_the_known_default() -> None:
    decision = decide(MIXED, "sd1", "a1111", known_default=3, known_source="civitai.info")
    assert (decision.skip, decision.source) == ("3", "checkpoint")
    assert (
        "the rule puts the checkpoint first: checkpoint default 3 (source: civitai.info)" in decision.reasons
    )
    assert decision.rule == "sd1 mixed: checkpoint or 2"


def test_checkpoint_or_value_without_a_known_default_uses_the_value() -> None:
    decision = decide(MIXED, "sd1", "a1111")
    assert (decision.skip, decision.source) == ("2", "policy")
    assert "no checkpoint default is known: the rule's fallback applies" in decision.reasons


def test_a_fixed_rule_passes_over_the_known_default_and_says_so() -> None:
    decision = decide(TAGS, "sd1", "a1111", known_default=1, known_source="sidecar")
    assert (decision.skip, decision.source) == ("2", "policy")
    assert "checkpoint default 1 (source: sidecar) not used: the rule gives its own value" in decision.reasons
    assert decide(PROSE, "sd1", "a1111", known_default=2).skip == "1"


def test_checkpoint_alone_falls_back_to_the_native_layer() -> None:
    assert decide(TAGS, "sd2", "forge", known_default=3).skip == "3"
    decision = decide(TAGS, "sd2", "forge")
    assert (decision.skip, decision.source) == ("1", "native")
    assert "the native layer of SD2 on Forge: 1" in decision.reasons


def test_native_ignores_the_known_default() -> None:
    policy = Policy.parse("sd1 tags: native")
    assert decide(TAGS, "sd1", "a1111", policy, known_default=2).skip == "1"
    assert decide(TAGS, "sd1", "diffusers", policy, known_default=1).skip == "0"


def test_known_default_is_in_host_numbering_and_is_not_translated() -> None:
    assert decide(MIXED, "sd1", "diffusers", known_default=1).skip == "1"
    assert decide(MIXED, "sdxl", "comfyui", known_default=-2).skip == "2"  # ComfyUI's own spelling
    assert decide(MIXED, "sd1", "a1111", known_default=1.5).skip == "1.5"


def test_a_known_default_without_a_source() -> None:
    decision = decide(MIXED, "sd1", "a1111", known_default=2)
    assert "the rule puts the checkpoint first: checkpoint default 2" in decision.reasons


@pytest.mark.parametrize("bad", [40, 0, float("nan"), True])
def test_a_bad_known_default_is_an_error(bad: float) -> None:
    with pytest.raises(ConventionError, match=r"^checkpoint default: "):
        decide(MIXED, "sd1", "a1111", known_default=bad)


def test_a_family_or_style_without_a_rule_behaves_like_checkpoint() -> None:
    policy = Policy.parse("sd1 tags: 2")
    decision = decide(PROSE, "sd1", "a1111", policy)
    assert (decision.skip, decision.source, decision.rule) == ("1", "native", None)
    assert "the policy has no rule for sd1 prose, which means 'checkpoint'" in decision.reasons
    assert decide(PROSE, "sd1", "a1111", policy, known_default=2).skip == "2"
    assert decide(TAGS, "sdxl", "forge", Policy()).skip == "2"


# --------------------------------------------------------------------------------------------------
# Empty prompts


@pytest.mark.parametrize(
    "prompt", ["", "   \n", "<lora:detail:0.8>", "(( ))", "BREAK", ", , ,", "[:(:1.2):5]"]
)
def test_empty_and_syntax_only_prompts_fall_back(prompt: str) -> None:
    assert not has_words(prompt)
    decision = decide(prompt, "sd1", "a1111")
    assert (decision.style, decision.score, decision.skip, decision.source) == ("mixed", 0.0, "1", "native")
    assert decision.rule is None
    assert (
        decision.reasons[0] == "the prompt is empty or only syntax: no style evidence, the policy is not used"
    )
    assert "empty prompt: no checkpoint default is known, so the native layer of SD1 on A1111, 1" in (
        decision.reasons
    )
    with_default = decide(prompt, "sd1", "a1111", known_default=2, known_source="curated")
    assert (with_default.skip, with_default.source) == ("2", "checkpoint")
    assert "empty prompt: checkpoint default 2 (source: curated)" in with_default.reasons
    # whatever the policy says
    assert decide(prompt, "sd1", "a1111", Policy.parse("sd1 mixed: 5")).skip == "1"


def test_empty_prompt_native_layer_per_host() -> None:
    assert decide("", "sdxl", "a1111").skip == "2"
    assert decide("", "sdxl", "forge").skip == "2"  # 1 and 2 are both native on Forge: the A1111 spelling
    assert decide("", "sd1", "diffusers").skip == "0"


def test_a_single_real_word_is_not_empty() -> None:
    assert has_words("zorblax")  # a lone unknown word (maybe an embedding): no evidence, but not empty
    decision = decide("zorblax", "sd1", "a1111")
    assert (decision.style, decision.rule, decision.skip) == ("mixed", "sd1 mixed: checkpoint or 2", "2")


# --------------------------------------------------------------------------------------------------
# Decision object, errors, purity


def test_to_dict_is_json_ready_and_has_the_documented_keys() -> None:
    decision = decide(TAGS, "sd1", "forge")
    data = json.loads(json.dumps(decision.to_dict()))
    assert {"style", "score", "skip", "reasons"} <= set(data)
    assert data == {
        "style": "tags",
        "score": decision.score,
        "skip": "2",
        "reasons": list(decision.reasons),
        "evidence": list(decision.evidence),
        "family": "sd1",
        "host": "forge",
        "source": "policy",
        "rule": "sd1 tags: 2",
    }
    assert decision.summary() == f"Auto: tags ({decision.score:.2f}) -> 2 [sd1 tags: 2]"
    assert decide("", "sd1", "a1111").summary() == "Auto: mixed (0.00) -> 1 [native]"


def test_each_prompt_decides_for_itself_and_deterministically() -> None:
    batch = [TAGS, PROSE, MIXED, ""]
    first = [decide(p, "sd1", "a1111") for p in batch]
    assert [d.skip for d in first] == ["2", "1", "2", "1"]
    assert first == [decide(p, "sd1", "a1111") for p in batch]
    assert isinstance(first[0], Decision)


@pytest.mark.parametrize(
    ("family", "host", "message"),
    [
        ("flux", "a1111", "unknown model family 'flux'"),
        ("sd1", "invoke", "unknown host 'invoke'"),
        ("sd2", "sdnext", "SD.Next has no documented clip skip numbering for SD2"),
    ],
)
def test_unknown_family_or_host(family: str, host: str, message: str) -> None:
    with pytest.raises(ConventionError, match=message):
        decide(TAGS, family, host)


@settings(max_examples=150, deadline=None)
@given(
    prompt=st.text(max_size=200),
    cell=st.sampled_from(
        [
            (family, host)
            for family in conventions.FAMILIES
            for host in ("a1111", "forge", "reforge", "comfyui")
            if conventions.RULES[(host, family)] is not None
        ]
    ),
    policy=policies(),
)
def test_any_prompt_and_policy_give_a_valid_skip_on_the_host(
    prompt: str, cell: tuple[str, str], policy: Policy
) -> None:
    family, host = cell
    decision = decide(prompt, family, host, policy)
    schedule = parse(decision.skip)  # canonical schedule text
    found = conventions.rule(host, family)
    assert all(found.low <= item.value <= found.high for item in schedule.items)
    assert decision.style in STYLES
    assert decision.source in {"policy", "checkpoint", "native"}
    assert decision.reasons


def test_policy_imports_no_webui_gradio_or_torch() -> None:
    script = (
        "import sys\n"
        "for name in ('modules', 'gradio', 'torch'):\n"
        "    sys.modules[name] = None\n"
        "import clip_skip_ext.policy, clip_skip_ext.cli\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
