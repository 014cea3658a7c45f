"""``taskloom worker``: claim and execute distributed tasks on PostgreSQL."""

from __future__ import annotations

import argparse
from typing import Any

from taskloom.cli.common import EXIT_OK, CliError
from taskloom.cli.targets import import_workflows
from taskloom.core.log_fields import configure


def cmd_worker(args: argparse.Namespace) -> int:
    """``taskloom worker``: import the workflows, then claim and run tasks until told to stop."""
    import logging
    import signal

    from taskloom.core.registry import workflow_names
    from taskloom.distributed.worker import Worker
    from taskloom.journal.urls import is_postgres_url, redact_url, resolve_url

    url = resolve_url(args.db)
    if not is_postgres_url(url):
        raise CliError(
            f"--db {redact_url(url)!r}: a worker needs a postgresql:// (or postgres://) url"
        )
    from taskloom.dataflow.flow import registered_flows
    from taskloom.steps.workflow import registered_workflows

    for spec in args.imports:
        import_workflows(spec)
    if not (workflow_names() or registered_flows() or registered_workflows()):
        raise CliError(
            f"the imported modules ({', '.join(args.imports)}) define no workflows, flows or "
            "step workflows"
        )
    configure("INFO", "text")  # a worker logs what it does (no-op if already configured)
    try:
        worker = Worker(
            url,
            concurrency=args.concurrency,
            lease=args.lease,
            poll_interval=args.poll,
            task_timeout=args.task_timeout,
            vacuum=args.vacuum,
            retention=args.retention,
            adopt_orphans=args.adopt_orphans,
            max_process_deaths=args.max_process_deaths,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    if args.metrics_port is not None:
        from taskloom.telemetry.metrics import Metrics

        try:
            metrics = Metrics()
        except ImportError as exc:
            raise CliError(f"--metrics-port: {exc}") from exc
        metrics.start().watch_worker(worker)
        port = metrics.serve(args.metrics_port, args.metrics_host)
        logging.getLogger("taskloom").info(
            "taskloom worker metrics on http://%s:%d/metrics", args.metrics_host, port
        )
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: worker.request_stop())
    schedules = None
    if args.schedules:
        worker.start()  # claiming first; the schedule loop then starts on its own thread
        schedules = _fire_schedules(worker.journal, args.task_timeout)
    try:
        worker.run()
    finally:
        if schedules is not None:
            schedules.stop()
    return EXIT_OK


def _fire_schedules(journal: Any, task_timeout: float | None) -> Any:
    """Fire the schedules (and poll the triggers) of the imported modules, queueing their
    runs for the workers -- each due time once, whatever the number of workers and runners."""
    from taskloom.core.schedule_loop import ScheduleLoop
    from taskloom.distributed.schedule_launch import QueueLauncher

    return ScheduleLoop(journal, QueueLauncher(journal, task_timeout)).start(background=True)
