"""Operations shared by the CLI, the Slack app and the job runner.

Each takes `home` (FTBOT_HOME) first, opens its own connection per unit of work, and raises domain errors
(engine.errors.FtbotError, storage.errors.StorageError) that the edges turn into messages.
"""
