"""Module twins of the original engines, so a port only rewrites its imports.

``taskloom.compat.grctl.client`` stands where ``grctl.client`` stood, and so
on: thin maps onto taskloom's own API, nothing engine-like of their own.
``taskloom.compat.auto_workflow.X`` likewise stands for ``auto_workflow.X``;
docs/compatibility.md has the table of names and differences.
"""
