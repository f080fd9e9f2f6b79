import pytest

from clip_skip_ext.directives import extract, strip
from clip_skip_ext.schedule import ScheduleError, parse


def test_extract_removes_the_directive_and_parses_it():
    text, schedule = extract("1girl, <clipskip:2@50%, 1> solo, <lora:x:0.5>")
    assert text == "1girl,  solo, <lora:x:0.5>"
    assert schedule == parse("2@50%, 1")


def test_no_directive():
    assert extract("a photo of a cat") == ("a photo of a cat", None)


def test_last_directive_wins_and_case_is_free():
    assert extract("<clipskip:3> a <CLIPSKIP:1.5>")[1] == parse("1.5")


def test_invalid_directive_names_itself():
    with pytest.raises(
        ScheduleError, match=r"'<clipskip:2@@1>': in the prompt: unexpected '@' at character 3"
    ):
        extract("cat <clipskip:2@@1>")


def test_strip_does_not_parse():
    assert strip("cat <clipskip:nonsense> dog") == "cat  dog"
