"""``python -m zoo``: the ``zoo`` command, for environments without its script on PATH."""

import sys

from zoo.cli import main

sys.exit(main())
