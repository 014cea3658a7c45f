"""Telemetry: what taskloom tells the tools operators already run (Prometheus metrics)."""
