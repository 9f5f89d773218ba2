"""The training form (`/ft train` without arguments): invalid input comes back as field errors."""
from __future__ import annotations

from engine.config import TrainConfig
from engine.errors import ConfigError
from storage import connect
from storage import datasets as dataset_table

from bot import blocks
from bot.listeners import Deps

# ConfigError.field → the form's block id
_FIELD_BLOCK = {"loss_alpha": "alpha", "alpha": "alpha", "base": "base", "method": "method", "freeze": "freeze",
                "epochs": "epochs", "lr": "lr", "r": "r"}


def register(app, deps: Deps) -> None:
    @app.view("ft_train")
    def on_submit(ack, body, view, client):
        user = body["user"]["id"]
        if not deps.settings.is_admin(user):
            ack(response_action="errors", errors={"dataset": deps.refusal("train")})
            deps.background(deps.audit, user, "train", None, ok=False, reason="not an admin")
            return
        values = blocks.modal_values(view)
        errors, options = check(deps, values)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        channel = view.get("private_metadata") or user
        deps.background(_submit, deps, values["dataset"], options, user, channel, client,
                        on_error=lambda m: client.chat_postEphemeral(channel=channel, user=user, text=m))


def check(deps: Deps, values: dict) -> tuple[dict, dict]:
    """({block_id: message}, options). The dataset check is one indexed SQLite read, fine on the ack path."""
    errors = {}
    name = values.get("dataset")
    if not name:
        errors["dataset"] = "choose a dataset"
    else:
        with connect(deps.home) as db:
            if not dataset_table.exists(db, name):
                errors["dataset"] = f"no dataset named {name!r}; see /ft datasets"
    options = {k: values[k] for k in ("base", "method", "alpha", "freeze", "epochs", "lr", "r") if k in values}
    # Check each field on its own so every bad field gets its message at once.
    for key, value in options.items():
        try:
            TrainConfig.from_options({key: value})
        except ConfigError as e:
            errors[_FIELD_BLOCK.get(e.field, key)] = f"{value!r} is not valid: {e.allowed}"[:150]
    if not errors:
        try:
            TrainConfig.from_options(options)
        except ConfigError as e:
            errors[_FIELD_BLOCK.get(e.field, "dataset")] = str(e)[:150]
    return errors, options


def _submit(deps, dataset, options, user, channel, client):
    run = deps.service.runs.submit(deps.home, dataset, options, user=user,
                                   origin={"source": "slack", "channel": channel, "user": user})
    if deps.notifier:
        deps.notifier.wake(run["id"], run.get("plan"))
    text, blks = blocks.submitted(run, run.get("plan"))
    client.chat_postMessage(channel=channel, text=text, blocks=blks)
