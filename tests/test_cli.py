import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "clip_skip_ext", *args], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def test_schedule_prints_one_skip_per_step():
    result = run("schedule", "2@40%, 1", "--steps", "20")
    assert result.returncode == 0, result.stderr
    assert result.stdout == " ".join(["2"] * 8 + ["1"] * 12) + "\n"


def test_schedule_json_and_fractional_values():
    result = run("schedule", "9, 7, 1.5", "--steps", "5", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout) == [9, 7, 1.5, 1.5, 1.5]


def test_invalid_spec_goes_to_stderr_with_exit_2():
    result = run("schedule", "2@40%,,1", "--steps", "20")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "unexpected ',' at character 7" in result.stderr


def test_invalid_steps_exit_2():
    result = run("schedule", "2", "--steps", "0")
    assert result.returncode == 2
    assert "'0' is not a step count" in result.stderr


def test_translate():
    ok = run("translate", "-2", "--family", "sdxl", "--from", "comfyui", "--to", "a1111")
    assert (ok.returncode, ok.stdout) == (0, "2\n")
    assert "CLIP-G layer 31 of 32" in ok.stderr
    none = run("translate", "1", "--family", "sdxl", "--from", "comfyui", "--to", "a1111", "--json")
    assert json.loads(none.stdout)["result"] is None
    bad = run("translate", "30", "--family", "sd1", "--from", "a1111", "--to", "forge")
    assert bad.returncode == 2
    assert "accepted: 1 to 13" in bad.stderr
