"""The repository root's __init__.py: ComfyUI's entry, inert everywhere else."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAKE = ROOT / "tests" / "fake_comfy"


def run(code, *paths):
    env_path = ":".join(str(p) for p in paths)
    script = f"import sys; sys.path[:0] = {env_path.split(':') if env_path else []!r}\n" + code
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT.parent)


LOAD = (
    "import importlib.util\n"
    f"spec = importlib.util.spec_from_file_location('{ROOT}', '{ROOT / '__init__.py'}')\n"  # as nodes.py load_custom_node
    "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
)


def test_outside_comfyui_the_root_package_is_inert():
    result = run(
        LOAD + "print(module.NODE_CLASS_MAPPINGS, module.NODE_DISPLAY_NAME_MAPPINGS,"
        " [m for m in sys.modules if m.startswith('clip_skip_ext')])"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{} {} []"


def test_inside_comfyui_it_offers_the_nodes():
    result = run("import comfy, folder_paths\n" + LOAD + "print(sorted(module.NODE_CLASS_MAPPINGS))", FAKE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(
        sorted(["ClipSkipAuto", "ClipSkipFromCheckpoint", "ClipSkipTextEncode", "SaveClipSkipDefault"])
    )


def test_python_m_clip_skip_ext_does_not_load_the_comfy_adapter():
    result = run(
        "import runpy, sys; sys.argv = ['x', 'schedule', '2@50%, 1', '--steps', '4']\n"
        "try:\n    runpy.run_module('clip_skip_ext', run_name='__main__')\nexcept SystemExit: pass\n"
        "print([m for m in sys.modules if m.startswith(('clip_skip_ext.comfy', 'comfy', 'folder_paths'))])",
        ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("[]")
