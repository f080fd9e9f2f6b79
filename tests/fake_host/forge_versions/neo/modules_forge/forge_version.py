version = "neo"  # Forge Neo 3df257ae modules_forge/forge_version.py:1
