"""Twin of ``auto_workflow.cli``: ``python -m taskloom.compat.auto_workflow.cli run|describe|list``.

The commands are ``taskloom flow ...`` (:mod:`taskloom.cli.flow_commands`).
"""

from taskloom.cli.flow_commands import load_flow, main

__all__ = ["load_flow", "main"]

if __name__ == "__main__":
    raise SystemExit(main())
