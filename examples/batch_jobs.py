"""Batch jobs: one-off tasks with ``run_task``, their output and their exit codes.

A plain synchronous script, on the blocking facade ``pyecs.sync`` (no ``async``/``await``).
It registers one ``report`` job definition, runs four copies with different commands
through ECS task overrides, waits for all of them to stop, and prints a table of exit
codes, stop codes and output (the last lines the backend kept of each removed container,
as a log service would), the way a batch scheduler would collect results. One job
fails on purpose (exit 3), one cannot start at all (a missing program), to show how each
kind of failure looks.

    python examples/batch_jobs.py [--backend auto|docker|process]
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from example_support import container, make, parse_backend

import pyecs
import pyecs.sync

JOBS = {
    "sum": "echo $((6 * 7))",
    "count": "for i in 1 2 3; do echo line $i; done",
    "fail": "echo 'something went wrong' >&2; exit 3",
    "missing": None,  # a program that does not exist: the task never starts
}


def overrides(command: str | None) -> dict[str, object]:
    """An ECS TaskOverride replacing the job container's command."""
    argv = ["no-such-program"] if command is None else ["sh", "-c", command]
    return {"containerOverrides": [{"name": "job", "command": argv}]}


def main() -> int:
    """Run the jobs; return 0 when the expected one failed and the others succeeded."""
    backend = parse_backend(__doc__.splitlines()[0] if __doc__ else None)
    print(f"backend: {backend}")
    definition = {
        "family": "report",
        "containerDefinitions": [container(backend, "job", ["sh", "-c", "true"])],
    }
    with pyecs.sync.Cluster("batch", backend=make(backend)) as cluster:
        td = cluster.register_task_definition(definition)
        started: dict[str, str] = {}
        for name, command in JOBS.items():
            result = cluster.run_task(td.ref, overrides=overrides(command), started_by=name)
            started[name] = result.tasks[0].arn
        print(f"started {len(started)} tasks of {td.ref}; waiting for them to stop")
        finished = cluster.wait_tasks_stopped(list(started.values()), timeout=120)
        print(f"{'JOB':<8} {'EXIT':>4}  {'STOP CODE':<26} OUTPUT")
        codes = {}
        kept: Mapping[str, list[str]] = getattr(cluster.backend, "removed_logs", {})
        for name, task in zip(started, finished, strict=True):
            job = task.container("job")
            output = " / ".join(kept.get(job.runtime_id or "", []))
            codes[name] = job.exit_code
            print(f"{name:<8} {job.exit_code!s:>4}  {task.stop_code!s:<26} {output}")
            if task.stop_code == "TaskFailedToStart":
                print(f"{'':<8} {'':>4}  reason: {task.stopped_reason}")
        print(f"jobs listed as stopped: {len(cluster.list_tasks(desired_status='STOPPED'))}")
    ok = codes["sum"] == 0 and codes["count"] == 0 and codes["fail"] == 3
    ok = ok and codes["missing"] is None
    print("as expected" if ok else "unexpected results")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except pyecs.PyecsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
