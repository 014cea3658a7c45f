"""``taskloom ui``: serve the web dashboard on a journal (needs ``taskloom[ui]``)."""

from __future__ import annotations

import argparse
import importlib.util

from taskloom.cli.common import EXIT_OK, CliError


def cmd_ui(args: argparse.Namespace) -> int:
    """Serve the dashboard until Ctrl-C; refuses unsafe binds before opening anything."""
    missing = [m for m in ("starlette", "uvicorn", "jinja2") if importlib.util.find_spec(m) is None]
    if missing:
        raise CliError(f"the dashboard needs {', '.join(missing)}: pip install 'taskloom[ui]'")
    from taskloom.errors import TaskloomError
    from taskloom.ui.security import BindError
    from taskloom.ui.server import serve

    try:
        serve(
            args.db,
            host=args.host,
            port=args.port,
            token=args.token,
            read_only=args.read_only,
            apps=tuple(args.apps or ()),
        )
    except BindError as exc:
        raise CliError(str(exc)) from None
    except (OSError, ValueError, TaskloomError) as exc:
        raise CliError(f"--db/--port: {exc}") from None
    return EXIT_OK


def add_ui_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    sub = subparsers.add_parser(
        "ui",
        parents=[common],
        help="serve the web dashboard (runs, graphs, workers, actions)",
        description=(
            "Serve a web dashboard on the journal: runs (filter, live), each run's graph, "
            "timeline and tasks, workflows, workers; cancel, retry, start runs and send "
            "events. Binds 127.0.0.1 unless --host is given, which then needs a token."
        ),
    )
    sub.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    sub.add_argument("--port", type=int, default=8787, help="port (8787; 0 picks a free one)")
    sub.add_argument(
        "--token",
        default=None,
        help="required to log in (default $TASKLOOM_UI_TOKEN); needed for any --host but loopback",
    )
    sub.add_argument(
        "--read-only", action="store_true", help="no actions; open the journal only to read it"
    )
    sub.add_argument(
        "--app",
        dest="apps",
        metavar="MODULE",
        action="append",
        help="module or file defining workflows the dashboard may start; repeatable",
    )
    sub.set_defaults(handler=cmd_ui)
