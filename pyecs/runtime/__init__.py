"""What a cluster's services are given: ARNs, clock, events, registry, tasks, placement.

Tasks are placed, launched, supervised and remembered here (:mod:`._tasks`,
:mod:`._task_runner`), task definitions are registered (:mod:`._registry`), and events are
fanned out (:mod:`._events`). Nothing here knows services.
"""
