"""Run by the WebUI's launcher before start-up (A1111 ``launch_utils.run_extension_installer``).

Clip Skip Control needs nothing beyond what A1111 and Forge already ship (torch, transformers,
safetensors, gradio), so ``REQUIREMENTS`` is empty and this installs nothing. Should a package
ever be needed, it goes in ``REQUIREMENTS`` and is installed only when missing, never when the
launcher was started with ``--skip-install``: running this twice does the same as running it once.
"""

import launch

REQUIREMENTS: dict[str, str] = {}  # import name -> pip requirement


def missing() -> list[str]:
    return [spec for name, spec in REQUIREMENTS.items() if not launch.is_installed(name)]


def main() -> None:
    if getattr(launch.args, "skip_install", False):
        return
    for spec in missing():
        launch.run_pip(f"install {spec}", f"Clip Skip Control requirement: {spec}")


main()
