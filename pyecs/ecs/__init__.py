"""ECS JSON: the one place where camelCase ECS shapes become pyecs models and back.

One cattrs converter (:mod:`pyecs.ecs._converter`) turns ECS JSON into the frozen attrs
models of :mod:`pyecs.models` and back, and :mod:`pyecs.ecs._validation` checks task
definitions against ECS's rules, naming every problem with its JSON path.
"""
