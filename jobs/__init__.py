"""Job runner: the runs table as a queue, workers that train in child processes, schedules, executors.

Sits above engine, storage and bot.service; talks to the engine only through bot.service.runs.execute.
"""
