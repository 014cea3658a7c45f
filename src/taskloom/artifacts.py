"""``taskloom.artifacts``: the documented home of the artifact store API.

The store itself lives with the dataflow style (:mod:`taskloom.dataflow.artifacts`);
this module keeps the import path that users' code and the docs name.
"""

from taskloom.dataflow.artifacts import *  # noqa: F403
from taskloom.dataflow.artifacts import __all__ as __all__
