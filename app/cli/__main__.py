"""``python -m app.cli``: the same as the installed ``normlab`` command."""

import sys

from app.cli import main

sys.exit(main())
