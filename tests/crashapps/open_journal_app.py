"""Open (and so create and migrate) a journal at a common start time.

Several copies are started at once on the same fresh file to check that the
schema migration is safe when processes race to create it. Prints the
schema version the journal reports.

Usage::

    open_journal_app.py DB_URL START_AT
"""

from __future__ import annotations

import os
import sys

from taskloom.journal.urls import open_journal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import wait_until_time


def main(argv: list[str]) -> int:
    db_url, start_at = argv
    wait_until_time(float(start_at))
    journal = open_journal(db_url)
    try:
        print(journal.schema_version, flush=True)  # type: ignore[attr-defined]
    finally:
        journal.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
