"""Retry policies: when a failed task attempt is tried again, and after how long.

taskloom accepts three authoring styles that each describe retries differently:

* Cloaca's builder (``RetryPolicy.builder().max_attempts(5)...build()``) and its
  decorator options (``retry_attempts=``, ``retry_backoff="linear"``, ...);
* grctl's keyword form (``RetryPolicy(max_attempts=3, initial_delay_ms=200)``);
* auto_workflow's decorator options (``retries=``, ``retry_backoff=``, ``retry_jitter=``).

Rather than keep three policy types that the engine would have to branch on, every
style is translated into one normalized :class:`RetryPolicy` built from three small
values: a :class:`BackoffStrategy` (how the delay grows), a :class:`RetryCondition`
(which errors are worth another attempt) and a :class:`Jitter` (how the delay is
randomized). All four are frozen, slotted dataclasses, so a policy can be shared
between tasks, used as a dict key, and serialized with :meth:`RetryPolicy.to_dict`
into the stable form that feeds a workflow's version hash.

Conventions used throughout:

* ``attempt`` is the 1-based number of the attempt that just *failed*; the delay
  computed for it is the wait before attempt ``attempt + 1``.
* Durations are stored in seconds as ``float``; the grctl-facing ``*_ms`` views are
  derived from them.
"""

from taskloom.retry.backoff import BackoffStrategy, Jitter
from taskloom.retry.conditions import RetryCondition
from taskloom.retry.policy import RetryPolicy, RetryPolicyBuilder

__all__ = [
    "BackoffStrategy",
    "Jitter",
    "RetryCondition",
    "RetryPolicy",
    "RetryPolicyBuilder",
]
