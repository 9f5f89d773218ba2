"""Job runner: the runs table as a queue, workers that train in child processes, schedules, executors.

Sits above the operations layer (ops/), engine and storage; reaches the engine only through ops.execution.execute,
run in a child process per run.
"""
