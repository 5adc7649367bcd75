"""`python -m snippets.capstone`: the orders service, until SIGTERM or ^C.

See `snippets.capstone.server` and the capstone page (`docs/capstone/index.md`).
"""

import sys

from snippets.capstone.server import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
