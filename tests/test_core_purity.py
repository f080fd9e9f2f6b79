"""The core (clip_skip_ext/ outside its adapters) knows no host; each adapter imports only its own host.

- ``clip_skip_ext/webui/``: the only package that imports the WebUIs' ``modules`` and ``gradio``;
- ``clip_skip_ext/comfy/``: the only package that imports ComfyUI's ``comfy``, ``folder_paths``, ``nodes``.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import clip_skip_ext

PACKAGE = Path(clip_skip_ext.__file__).parent
HOSTS = {"webui": {"modules", "gradio"}, "comfy": {"comfy", "folder_paths", "nodes"}}
EVERY_HOST = set().union(*HOSTS.values())


def files(adapter: str | None):
    """The adapter's files, or the core's (adapter None)."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).parts
        owner = parts[0] if len(parts) > 1 and parts[0] in HOSTS else None
        if owner == adapter:
            found.append(path)
    return sorted(found)


def imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


@pytest.mark.parametrize("adapter", [None, *HOSTS])
def test_no_package_imports_a_host_that_is_not_its_own(adapter):
    allowed = HOSTS.get(adapter, set())
    offenders = [
        f"{path.relative_to(PACKAGE)}:{line} {name}"
        for path in files(adapter)
        for line, name in imports(path)
        if name.split(".")[0] in EVERY_HOST - allowed
    ]
    assert files(adapter)
    assert not offenders


def test_every_core_module_imports_with_every_host_blocked():
    modules = [
        ".".join(("clip_skip_ext", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        for p in files(None)
        if p.name != "__main__.py"
    ]
    assert "clip_skip_ext.schedule" in modules
    assert "clip_skip_ext.timesteps" in modules
    script = (
        "import sys, importlib\n"
        f"for name in {sorted(EVERY_HOST)!r}:\n"
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
