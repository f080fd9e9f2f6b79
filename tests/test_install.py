"""install.py against a fake ``launch`` module that mirrors A1111 modules/launch_utils.py
(``is_installed``, ``run_pip``, ``args.skip_install``), re-exported by launch.py."""

import runpy
import sys
import types
from pathlib import Path

import pytest

INSTALL = str(Path(__file__).resolve().parents[1] / "install.py")


@pytest.fixture
def launch(monkeypatch):
    fake = types.ModuleType("launch")
    fake.installed = {"torch", "transformers", "safetensors", "gradio"}
    fake.pip_calls = []
    fake.args = types.SimpleNamespace(skip_install=False)
    fake.is_installed = lambda name: name in fake.installed

    def run_pip(command, desc=None):
        fake.pip_calls.append(command)
        fake.installed.add(command.split()[-1].split("=")[0].split(">")[0])

    fake.run_pip = run_pip
    monkeypatch.setitem(sys.modules, "launch", fake)
    return fake


def test_installs_nothing_the_host_provides(launch):
    runpy.run_path(INSTALL)
    assert launch.pip_calls == []


def test_installs_a_missing_requirement_once_and_honours_skip_install(launch):
    install = runpy.run_path(INSTALL)
    install["REQUIREMENTS"]["example_pkg"] = "example_pkg>=1.0"
    launch.args.skip_install = True
    install["main"]()
    assert launch.pip_calls == []
    launch.args.skip_install = False
    install["main"]()
    install["main"]()
    assert launch.pip_calls == ["install example_pkg>=1.0"]
