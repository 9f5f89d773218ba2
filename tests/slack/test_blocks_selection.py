"""The result message says which model answers (the best on validation) and by how much, in Slack and the CLI."""
from __future__ import annotations

from slack_sdk.models.blocks import Block

from bot import render
from bot.blocks import final_message

SELECTION = {"scores": {"finetuned": 0.81, "baseline": 0.79, "blend": 0.83}, "metric": "roc_auc", "served": "blend",
             "best": "blend", "margin": 0.02, "partner": "gradient_boosting", "weight": 0.6,
             "weight_chosen_on": "400 held-out training rows", "served_why": "best on validation"}
RUN = {"id": 3, "status": "succeeded", "dataset": "credit", "method": "lora", "loss_alpha": 0.0, "base": "minilm",
       "freeze": "none", "pre_loss": "embedding", "accuracy": 0.8, "macro_f1": 0.7,
       "metrics": {"served": "blend", "selection": SELECTION}}


def test_slack_result_names_the_served_model_and_the_margin():
    text, blocks = final_message(RUN, None)
    for b in blocks:
        Block.parse(b).validate_json()
    body = blocks[0]["text"]["text"]
    assert "*Serving* blend — ROC AUC on validation: fine-tuned 0.81 · baseline (gradient_boosting) 0.79 · " \
           "blend 0.83; best blend by 0.02" in body
    assert "chosen on 400 held-out training rows" in body


def test_cli_text_and_json_say_what_is_served():
    assert "serving blend — ROC AUC on validation" in render.run(RUN)
    out = render.run_json(RUN)
    assert out["served"] == "blend" and out["selection"]["margin"] == 0.02


def test_runs_without_a_selection_show_no_serving_line():
    plain = {**RUN, "metrics": {}}
    assert "Serving" not in final_message(plain, None)[1][0]["text"]["text"]
    assert "serving" not in render.run(plain) and "selection" not in render.run_json(plain)


REFITTED = {"status": "succeeded", "rows": 770, "transformer": "refitted for 12.00 epochs on 770 rows",
            "partner": {"rows": 770, "fit_s": 1.2}}


def test_a_refit_is_said_in_slack_the_cli_text_and_json():
    run = {**RUN, "metrics": {**RUN["metrics"], "refitted": REFITTED}}
    _, blocks = final_message(run, None)
    for b in blocks:
        Block.parse(b).validate_json()
    body = blocks[0]["text"]["text"]
    assert "*Refit* on all 770 rows (train + validation) after selection: refitted for 12.00 epochs on 770 rows" in body
    assert "figures above are of the first fit" in body
    assert "refit on all 770 rows (train + validation) after selection: succeeded" in render.run(run)
    assert render.run_json(run)["refitted"]["rows"] == 770
    failed = {**RUN, "metrics": {**RUN["metrics"], "refitted": {**REFITTED, "status": "cancelled",
                                                               "transformer": "first fit kept: stop"}}}
    assert "refit on all 770 rows cancelled: first fit kept: stop" in final_message(failed, None)[1][0]["text"]["text"]
    assert "Refit" not in final_message(RUN, None)[1][0]["text"]["text"]


def test_the_cost_threshold_says_on_which_rows_it_was_chosen():
    metrics = {**RUN["metrics"], "roc_auc": 0.8, "ks": 0.5, "expected_cost": 0.5,
               "binary": {"expected_cost": 0.5, "threshold_chosen_on": {"validation_rows": 98, "training_rows": 392}}}
    run = {**RUN, "metrics": metrics}
    _, blocks = final_message(run, None)
    for b in blocks:
        Block.parse(b).validate_json()
    said = "threshold chosen on 98 validation rows + 392 training rows it was not fitted on"
    assert said in blocks[0]["text"]["text"] and said in render.run(run)
    plain = {**RUN, "metrics": {**metrics, "binary": {"expected_cost": 0.5}}}    # runs evaluated before this
    assert "(threshold chosen on validation)" in final_message(plain, None)[1][0]["text"]["text"]


def test_how_the_partner_was_chosen_is_said_in_slack_and_the_cli():
    rule = ("rule, no cross-validation: the soft vote of the text partners (nothing needs out-of-fold scores when "
            "no training rows are held out and there are more than two classes)")
    run = {**RUN, "metrics": {"served": "blend", "selection": {**SELECTION, "partner": "average",
                                                               "partner_chosen_on": rule}}}
    _, blocks = final_message(run, None)
    for b in blocks:
        Block.parse(b).validate_json()
    assert f"_partner average chosen by {rule}_" in blocks[0]["text"]["text"]
    assert f"partner average chosen by {rule}" in render.run(run)
    assert "chosen by" not in render.run(RUN)            # runs evaluated before the record had it say nothing
