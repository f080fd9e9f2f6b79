"""``python -m clip_skip_ext explain``: the Auto-mode decision for one prompt, as text or JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clip_skip_ext.policy import decide

ROOT = Path(__file__).resolve().parents[1]

TAGS = "masterpiece, best quality, 1girl, solo, (long hair:1.2), looking at viewer"
PROSE = "A photo of an old man reading a newspaper in a quiet cafe."
MIXED = "1girl, solo, a girl reading a letter under a tree, spring, petals"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clip_skip_ext", "explain", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        input=stdin,
        encoding="utf-8",
    )


def test_text_output_shows_style_score_skip_reasons_and_evidence() -> None:
    result = run(TAGS)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    expected = decide(TAGS, "sd1", "a1111")
    assert lines[0] == f"style:  tags (score {expected.score:.2f})"
    assert lines[1] == "skip:   2  (SD1 on A1111; from the policy)"
    assert lines[2] == "why:"
    assert "  - policy rule 'sd1 tags: 2' (A1111 numbering)" in lines
    assert "  - skip 2: SD1: CLIP-L layer 11 of 12 + final norm" in lines
    assert "evidence:" in lines
    assert any("known booru tags: masterpiece" in line for line in lines)
    assert len(lines) == 4 + len(expected.reasons) + len(expected.evidence)


def test_json_output_has_style_score_skip_and_reasons() -> None:
    result = run(PROSE, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"style", "score", "skip", "reasons"} <= set(data)
    assert data == decide(PROSE, "sd1", "a1111").to_dict()
    assert (data["style"], data["skip"], data["source"]) == ("prose", "1", "policy")
    assert isinstance(data["score"], float)
    assert all(isinstance(reason, str) for reason in data["reasons"])


@pytest.mark.parametrize(
    ("args", "skip"),
    [
        (["--family", "sdxl"], "2"),
        (["--family", "sdxl", "--host", "comfyui"], "2"),
        (["--family", "sdxl", "--host", "forge"], "2"),
        (["--host", "diffusers"], "1"),  # A1111 2 is diffusers clip_skip=1
        (["--family", "sd2", "--host", "forge"], "1"),
    ],
)
def test_family_and_host_choose_the_numbering(args: list[str], skip: str) -> None:
    result = run(TAGS, "--json", *args)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["skip"] == skip


def test_text_output_names_the_family_and_host() -> None:
    result = run(TAGS, "--family", "sdxl", "--host", "forge")
    assert result.returncode == 0, result.stderr
    assert "skip:   2  (SDXL on Forge; from the policy)" in result.stdout
    assert "2 in A1111 numbering is 2 on Forge" in result.stdout


def test_checkpoint_default_and_source() -> None:
    result = run(MIXED, "--checkpoint-default", "3", "--checkpoint-source", "civitai.info", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["skip"], data["source"]) == ("3", "checkpoint")
    assert (
        "the rule puts the checkpoint first: checkpoint default 3 (source: civitai.info)" in data["reasons"]
    )
    comfy = run(MIXED, "--family", "sdxl", "--host", "comfyui", "--checkpoint-default", "-2", "--json")
    assert json.loads(comfy.stdout)["skip"] == "2"


def test_empty_prompt() -> None:
    result = run("", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["style"], data["score"], data["skip"], data["source"]) == ("mixed", 0.0, "1", "native")
    text = run("<lora:detail:0.8>")
    assert "the prompt is empty or only syntax" in text.stdout
    assert "from the native layer" in text.stdout


def test_prompt_from_standard_input() -> None:
    result = run("-", "--json", stdin=PROSE + "\n")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["skip"] == "1"


def test_custom_policy_file(tmp_path: Path) -> None:
    policy = tmp_path / "policy.txt"
    policy.write_text("# mine\nnumbering: a1111\nsd1 tags: 2@50%, 1\n", encoding="utf-8")
    result = run(TAGS, "--policy", str(policy), "--host", "diffusers", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["skip"], data["rule"]) == ("1@50%, 0", "sd1 tags: 2@50%, 1")


def test_bad_policy_file_exits_2_naming_the_line(tmp_path: Path) -> None:
    policy = tmp_path / "policy.txt"
    policy.write_text("sd1 tags: 2\nsd1 tgs: 1\n", encoding="utf-8")
    result = run(TAGS, "--policy", str(policy))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: policy line 2 'sd1 tgs: 1': unknown style 'tgs'; expected one of tags, prose, mixed\n"
    )
    missing = run(TAGS, "--policy", str(tmp_path / "nope.txt"))
    assert missing.returncode == 2
    assert "cannot read the policy file" in missing.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--family", "flux"], "argument --family: invalid choice: 'flux'"),
        (["--host", "invoke"], "argument --host: invalid choice: 'invoke'"),
        (["--checkpoint-default", "two"], "argument --checkpoint-default: invalid float value: 'two'"),
        (["--checkpoint-default", "40"], "error: checkpoint default: clip skip 40 is out of range"),
        (
            ["--family", "sd2", "--host", "sdnext"],
            "error: SD.Next has no documented clip skip numbering for SD2",
        ),
    ],
)
def test_bad_arguments_exit_2(args: list[str], message: str) -> None:
    result = run(TAGS, *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert message in result.stderr


def test_missing_prompt_exits_2() -> None:
    result = run()
    assert result.returncode == 2
    assert "the following arguments are required: prompt" in result.stderr


def test_help_lists_explain() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "clip_skip_ext", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert "explain" in result.stdout
