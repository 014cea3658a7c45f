"""Defines v2 of deploy_app's DAG on import (for ``taskloom adopt --import`` and runners)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import deploy_app

deploy_app.SIDE = os.environ.get("DEPLOY_SIDE", deploy_app.SIDE)
deploy_app.dag_v2()
