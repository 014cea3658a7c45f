"""auto_workflow's hooks (events by name, tracing, metrics, middleware, secrets).

Each is a thin adapter onto what taskloom already has: named events and
tracer spans and metrics are fed by the engine's lifecycle events
(:mod:`taskloom.core.events`), task middleware wraps a flow node's body,
secrets are a provider lookup. None of them costs anything until used.
"""
