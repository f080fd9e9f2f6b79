"""``python -m clip_skip_ext``: the command-line tools (see ``clip_skip_ext.cli``)."""

import sys

from clip_skip_ext.cli import main

sys.exit(main())
