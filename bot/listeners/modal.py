"""The training form (`/ft train` without arguments): invalid input comes back as field errors."""
from __future__ import annotations

from engine.config import TrainConfig
from engine.errors import ConfigError

from bot import blocks, replies
from bot.listeners import Deps

# ConfigError.field → the form's block id
_FIELD_BLOCK = {"loss_alpha": "alpha", "alpha": "alpha", "base": "base", "method": "method", "freeze": "freeze",
                "epochs": "epochs", "lr": "lr", "r": "r"}


def register(app, deps: Deps) -> None:
    @app.view("ft_train")
    def on_submit(ack, body, view, client):
        user = body["user"]["id"]
        channel = view.get("private_metadata") or user
        actor = deps.actor(user, channel)
        if deps.refuse(actor, "train", None, lambda m: ack(response_action="errors", errors={"dataset": m[:150]})):
            return
        values = blocks.modal_values(view)
        errors, request = check(deps, values)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        reply = deps.reply(client, user=user, channel=channel, ref="train-form")
        deps.background(_submit, deps, client, values["dataset"], request, actor, channel, reply,
                        on_error=lambda m: reply.post(m, ephemeral=True))


def check(deps: Deps, values: dict) -> tuple[dict, TrainConfig | None]:
    """({block_id: message}, the parsed request). The dataset check is one indexed SQLite read, fine on the ack path."""
    errors = {}
    name = values.get("dataset")
    if not name:
        errors["dataset"] = "choose a dataset"
    elif not deps.ops.dataset_exists(name):
        errors["dataset"] = f"no dataset named {name!r}; see /ft datasets"
    options = {k: values[k] for k in blocks.MODAL_FIELDS if k != "dataset" and k in values}
    for key, e in TrainConfig.field_errors(options).items():     # every bad field gets its message at once
        errors[_FIELD_BLOCK.get(e.field, key)] = f"{options[key]!r} is not valid: {e.allowed}"[:150]
    request = None
    if not errors:
        try:
            request = TrainConfig.parse(options)
        except ConfigError as e:
            errors[_FIELD_BLOCK.get(e.field, "dataset")] = str(e)[:150]
    return errors, request


def _submit(deps, client, dataset, request, actor, channel, reply):
    done = deps.ops.run("train", actor, {"dataset": dataset, "request": request},
                        {"origin": {"source": "slack", "channel": channel, "user": actor.id}})
    replies.present(done, replies.Context.posting(deps, client, channel, actor.id, reply.post))
