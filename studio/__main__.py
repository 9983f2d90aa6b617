"""`python -m studio` starts the engine (if none runs) and the studio (studio.launch)."""

import sys

from studio.launch import main

sys.exit(main())
