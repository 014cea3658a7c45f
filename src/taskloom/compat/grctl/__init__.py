"""grctl's Python SDK, module for module, on taskloom (no Go server, no NATS).

Replace the package prefix of every import::

    from grctl.client import Client, Connection
        -> from taskloom.compat.grctl.client import Client, Connection
    from grctl.worker import Context, Worker, task
        -> from taskloom.compat.grctl.worker import Context, Worker, task
    from grctl.workflow import Directive, Workflow
        -> from taskloom.compat.grctl.workflow import Directive, Workflow

Runs are recorded in a journal (a SQLite file, or PostgreSQL shared by
workers) instead of a server; ``docs/steps.md`` lists every name and what
differs.
"""
