"""modules/paths_internal.py: the data and models folders (:16-17, :25-32).

``data_path`` is ``--data-dir`` (default: the WebUI folder, the parent of ``modules``); the tests
point it at a temporary folder.
"""

import os

modules_path = os.path.dirname(os.path.realpath(__file__))  # :16
script_path = os.path.dirname(modules_path)  # :17

data_path = script_path  # :30 (cmd_opts_pre.data_dir, default os.path.dirname(modules_path))
models_path = os.path.join(data_path, "models")  # :32 (no --models-dir)
