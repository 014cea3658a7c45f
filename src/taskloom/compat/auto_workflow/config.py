"""Twin of ``auto_workflow.config`` (taskloom.dataflow.config).

``[tool.taskloom]`` and ``TASKLOOM_*`` are read as well as auto_workflow's
``[tool.auto_workflow]`` and ``AUTO_WORKFLOW_*``; bad values raise ``ValueError``.
"""

from taskloom.dataflow.config import DEFAULTS, load_config, reload_config

__all__ = ["DEFAULTS", "load_config", "reload_config"]
