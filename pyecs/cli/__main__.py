"""``python -m pyecs.cli``: the ``pyecs`` command."""

from __future__ import annotations

import sys

from pyecs.cli import main

sys.exit(main())
