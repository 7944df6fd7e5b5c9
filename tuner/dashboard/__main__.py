"""``python -m tuner.dashboard``: the same as ``tuner dashboard``."""

import sys

from tuner.dashboard.cli import main

sys.exit(main())
