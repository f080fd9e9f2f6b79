import pytest

from clip_skip_ext.conventions import ConventionError
from clip_skip_ext.params import Settings
from clip_skip_ext.plan import Plan, check_family, status
from clip_skip_ext.schedule import parse


def chosen(plan, name, index=0):
    choice = plan.choose(name, index)
    return (str(choice.schedule) if choice.schedule else None, choice.source)


def test_disabled_panel_leaves_the_host_alone():
    plan = Plan(Settings(enabled=False, positive="2"))
    assert chosen(plan, "positive") == (None, "host")
    assert not plan.touches_anything


def test_panel_values_and_same_as_rules():
    plan = Plan(Settings(enabled=True, positive="2@40%, 1", negative="1"))
    assert chosen(plan, "positive") == ("2@40%, 1", "panel")
    assert chosen(plan, "negative") == ("1", "panel")
    assert chosen(plan, "hires_positive") == ("2@40%, 1", "panel")
    assert chosen(plan, "hires_negative") == ("1", "panel")


def test_precedence_directive_over_xyz_over_panel():
    plan = Plan(
        Settings(enabled=True, positive="3", negative="4"),
        xyz=frozenset({"positive"}),
        positive_directives=[None, parse("1.5")],
    )
    plan.settings = Settings(enabled=True, positive="2", negative="4")  # as merged with the XYZ value
    assert chosen(plan, "positive", 0) == ("2", "xyz")
    assert chosen(plan, "positive", 1) == ("1.5", "prompt")
    assert chosen(plan, "negative", 1) == (
        "4",
        "panel",
    )  # an explicit negative beats the positive's directive
    assert chosen(plan, "hires_positive", 1) == ("1.5", "prompt")


def test_directive_alone_drives_its_prompt_and_its_negative():
    plan = Plan(positive_directives=[parse("2"), None])
    assert plan.touches_anything
    assert chosen(plan, "positive", 0) == ("2", "prompt")
    assert chosen(plan, "negative", 0) == ("2", "prompt")  # negative follows positive
    assert chosen(plan, "positive", 1) == (None, "host")


def test_hires_directives_default_to_the_first_pass():
    plan = Plan(positive_directives=[parse("2")], hires_positive_directives=[parse("3")])
    assert chosen(plan, "hires_positive") == ("3", "prompt")
    assert chosen(plan, "negative") == ("2", "prompt")
    assert chosen(plan, "hires_negative") == ("3", "prompt")  # the negative follows its pass's positive


def test_xyz_alone_enables():
    plan = Plan(Settings(enabled=False, negative="3"), xyz=frozenset({"negative"}))
    assert chosen(plan, "negative") == ("3", "xyz")
    assert chosen(plan, "positive") == (None, "host")
    assert plan.recorded_settings() == Settings(enabled=True, negative="3")


def test_check_family_names_the_value():
    check_family([parse("2@40%, 13")], "sd1", "a1111")
    with pytest.raises(
        ConventionError, match="clip skip 14 is out of range for A1111 on SD1; accepted: 1 to 13"
    ):
        check_family([parse("2@40%, 14")], "sd1", "a1111")
    with pytest.raises(ConventionError, match="out of range"):
        check_family([parse("13.5")], "sd1", "a1111")
    check_family([parse("20")], "sd3", "a1111")  # no rule: nothing to check


def test_status_lines():
    assert (
        status(Settings(), "sd1", "a1111", 1)
        == "host Clip skip 1: SD1: CLIP-L layer 12 of 12 + final norm (native)"
    )
    line = status(Settings(enabled=True, positive="2@40%, 1", negative="1"), "sd1", "a1111", 1)
    assert line.startswith(
        "positive 2@40%, 1: SD1: CLIP-L layer 11 of 12 + final norm → CLIP-L layer 12 of 12"
    )
    assert "negative 1: SD1: CLIP-L layer 12 of 12" in line
    assert line.endswith("source: panel")
    assert "only CLIP-L moves" in status(Settings(enabled=True, positive="3"), "sdxl", "a1111", 1)
    assert status(Settings(enabled=True, positive="3"), "sd2", "a1111", 1) == (
        "Clip skip has no effect here: SD2 on A1111: the host never reads clip skip."
    )
    assert "no known default for this checkpoint" in status(
        Settings(enabled=True, mode="Checkpoint default"), "sd1", "a1111", 1
    )
    with_default = status(Settings(), "sd1", "a1111", 1, default=(2, "2 (user override)"))
    assert with_default == "checkpoint default 2 (user override): SD1: CLIP-L layer 11 of 12 + final norm"
    assert status(Settings(enabled=True, mode="Auto"), "sd1", "a1111", 1).startswith(
        "Auto: each prompt chooses"
    )
    assert status(Settings(enabled=True, mode="Auto"), "sd1", "a1111", 1, auto="Auto: tags") == "Auto: tags"
    assert status(Settings(), None, "a1111", 1).startswith("No model loaded yet")
    assert "no effect" in status(Settings(), "sd3", "a1111", 1)
