"""The Hugging Face Space's app file and `make studio`: start the engine (if none runs) and the studio.

    python launch.py                      # http://127.0.0.1:7860; the same as `w2s studio`

Everything lives in studio.launch (options: --host, --port, --workers; environment: W2S_STUDIO_HOST,
W2S_STUDIO_PORT, W2S_HOME, W2S_WORKERS; SPACE_ID binds 0.0.0.0).
"""

import sys

from studio.launch import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
