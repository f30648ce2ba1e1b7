"""ECS services: the state, the reconcile loop, the pure planner and the features.

:class:`~pyecs.service._service.Service` keeps the state and runs the loop;
:mod:`._plan` decides a reconcile pass from values; the features in :mod:`.features`
(load balancing, discovery) attach to a service through one seam.
"""
