version = "classic"  # Forge Classic 1f95d717 modules_forge/forge_version.py:1
