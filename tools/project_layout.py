"""The project's shape, in one place: read by the site hook, the page scaffold and the tests.

Kept free of imports from the rest of the project, so MkDocs can load it beside
`site_hooks.py` (it puts the hook's folder on `sys.path`) and Python can import it as
`tools.project_layout` from the repository root.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The six layers, in reading order: docs/<layer>/, snippets/<layer>/, tests/<layer>/.
# docs/assets/javascripts/reader.js keeps the same list for the progress box.
LAYERS = (
    "communication",
    "application",
    "data",
    "reliability",
    "performance",
    "observability",
)

# A pymdownx.snippets include of a snippet module: --8<-- "snippets/x/y.py" or with a
# ":section" suffix. Group 1 is the included path.
INCLUDE = re.compile(r'^\s*--8<--\s+"(snippets/[^":]+\.py)(?::[\w-]+)?"', re.M)
