"""A blocking facade over pyecs, for scripts and synchronous tests.

.. code-block:: python

    import pyecs.sync
    from pyecs.backends import ProcessBackend

    with pyecs.sync.Cluster("dev", backend=ProcessBackend()) as cluster:
        cluster.register_task_definition("task-definition.json")
        svc = cluster.create_service("web", task_definition="web", desired_count=2)
        svc.wait_stable(timeout=60)
        print([t.endpoint("web", 8080) for t in svc.tasks])

The cluster runs in an event loop of its own, in a background thread
(:func:`anyio.from_thread.start_blocking_portal`); each call is sent there and blocks
until it is done. Operations, arguments, return values and errors are those of
:class:`pyecs.Cluster` and :class:`pyecs.Service`, without ``await``. Leaving the ``with``
block stops every task and removes what the cluster created, as ``async with`` does.

The twins are generated from the async classes by ``scripts/gen_sync.py`` (into
``_generated.py``, over the hand-written bases in ``_base.py``); ``tests/test_sync.py``
fails when they drift apart.
"""

from __future__ import annotations

from pyecs.sync._bridge import BlockingStream
from pyecs.sync._generated import Cluster, Service

__all__ = ["BlockingStream", "Cluster", "Service"]
