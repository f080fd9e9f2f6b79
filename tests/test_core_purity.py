"""The core (everything outside clip_skip_ext/webui/) never needs the WebUI or gradio."""

import ast
import subprocess
import sys
from pathlib import Path

import clip_skip_ext

PACKAGE = Path(clip_skip_ext.__file__).parent
FORBIDDEN = {"modules", "gradio"}


def core_files():
    return sorted(p for p in PACKAGE.rglob("*.py") if "webui" not in p.relative_to(PACKAGE).parts)


def test_core_has_no_import_of_the_webui_or_gradio_anywhere():
    offenders = []
    for path in core_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.name}:{node.lineno} {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert not offenders


def test_every_core_module_imports_with_modules_and_gradio_blocked():
    modules = [
        ".".join(("clip_skip_ext", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        for p in core_files()
        if p.name != "__main__.py"
    ]
    assert "clip_skip_ext.schedule" in modules
    script = (
        "import sys, importlib\n"
        "for name in ('modules', 'gradio'):\n"
        "    sys.modules[name] = None  # any import of them raises ImportError\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print('ok', len(sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=PACKAGE.parent
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")
