"""`python -m engine.cli ...` is `w2s ...`."""

import sys

from engine.cli import main

sys.exit(main())
