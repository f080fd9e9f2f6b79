"""Hostile text (issue 16): prompts, schedules, policies and CLI values that broke before. Speed is in
bench/hostile_text.py; these check the answers (a quadratic pattern gives the same answers, slowly)."""

import subprocess
import sys
from pathlib import Path

import pytest

from clip_skip_ext import adaptive, directives
from clip_skip_ext.policy import Policy, PolicyError
from clip_skip_ext.schedule import ScheduleError, parse

ROOT = Path(__file__).resolve().parents[1]


def test_unclosed_directive_openers_are_text_and_a_closed_one_after_them_still_counts():
    prompt = "<clipskip:" * 2000 + "a cat <clipskip:2@50%, 1>"
    stripped, schedule = directives.extract(prompt)
    assert str(schedule) == "2@50%, 1"
    assert stripped.endswith("a cat ")
    assert directives.extract("<clipskip:" * 2000)[1] is None


@pytest.mark.parametrize("text", ["‹clipſkip:2>", "<clipſkip:2>", "<CLIPSKIP:2>"])
def test_only_the_ascii_spelling_is_a_directive(text):
    found = directives.extract(f"a cat {text}")[1]
    assert (found is not None) == (text == "<CLIPSKIP:2>")  # case-insensitive in ASCII only


@pytest.mark.parametrize("text", ["２@40%, 1", "2@٤٠%, 1", "²"])
def test_non_ascii_digits_are_refused_by_the_schedule_grammar(text):
    with pytest.raises(ScheduleError, match="unexpected"):
        parse(text)


def test_weights_after_a_long_digit_run_classify_as_before():
    # ":" then 12,000 digits: the old number pattern split the run between two quantifiers
    style = adaptive.classify("(masterpiece:" + "1" * 11_990)
    assert style.label in ("tags", "prose", "mixed")
    assert adaptive.classify("(masterpiece:1.2), 1girl, solo").label == "tags"


def test_a_chain_of_checkpoint_or_is_a_clear_error_not_a_recursion_error():
    text = "sd1 tags: " + "checkpoint or " * 1000 + "2"
    assert len(text) < 20_000
    with pytest.raises(PolicyError, match="says the same thing twice"):
        Policy.parse(text)


@pytest.mark.parametrize("separator", ["\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"])
def test_policy_lines_end_at_newlines_only(separator):
    # text after such a character inside a comment stays in the comment; errors name the right line
    policy = Policy.parse(f"sd1 tags: 2  # note{separator}sd1 prose: 3\nsd1 mixed: 1")
    assert policy.get("sd1", "prose") is None
    assert str(policy.get("sd1", "mixed")) == "1"
    with pytest.raises(PolicyError, match="line 2"):
        Policy.parse(f"sd1 tags: 2  # {separator} still line 1\nsd1 nonsense")


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "clip_skip_ext", *args], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


@pytest.mark.parametrize("value", ["1.999", "２", "1e1"])
def test_translate_refuses_what_the_grammar_refuses(value):
    result = run("translate", value, "--family", "sd1", "--from", "a1111", "--to", "comfyui")
    assert result.returncode == 2
    assert "is not a clip skip value (a number with at most 2 decimals)" in result.stderr


def test_translate_still_takes_two_decimals_and_comfyuis_minus():
    assert (
        run("translate", "1.25", "--family", "sd1", "--from", "a1111", "--to", "comfyui").stdout == "1.25\n"
    )
    assert run("translate", "-2", "--family", "sdxl", "--from", "comfyui", "--to", "a1111").stdout == "2\n"
