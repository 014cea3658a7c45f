"""``python -m taskloom``: the same CLI as the ``taskloom`` console script.

Useful where the script is not on ``PATH`` (a venv that is not activated) and
to be sure the CLI runs on the interpreter one names.
"""

from __future__ import annotations

import sys

from taskloom.cli import main

if __name__ == "__main__":
    sys.exit(main())
