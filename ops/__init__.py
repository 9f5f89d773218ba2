"""The operations both edges (the `ftbot` CLI and the Slack app in bot/) and the job runner (jobs/) share: datasets,
runs, execution, deployments, questions and feedback, schedules, Slack delivery records, and the access policy.

Imports run one way: bot → ops and jobs → ops → engine, storage. Nothing here imports bot or jobs. Every function
takes `home` (FTBOT_HOME) first, opens one storage connection per unit of work, and raises domain errors
(engine.errors.FtbotError, storage.errors.StorageError) that the edges turn into messages. `ops.facade.Operations`
binds them to one home for the Slack listeners (the typed seam tests swap).
"""
