version = "2.0.1v1.10.1"  # Forge dfdcbab6 modules_forge/forge_version.py:1
