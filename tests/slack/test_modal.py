"""`/ft train` without arguments opens the form; bad input comes back as field errors on the right blocks."""
import json

from tests.slack.helpers import add_dataset_row


def test_train_without_arguments_opens_the_modal(driver, fake, home):
    add_dataset_row(home, "banking")
    status, _, _ = driver.command("train")
    assert status == 200
    v = fake.wait_for(lambda: fake.views, 5, "views.open")[0]["view"]
    assert v["callback_id"] == "ft_train"
    ids = [b["block_id"] for b in v["blocks"]]
    assert ids == ["dataset", "base", "method", "alpha", "freeze", "epochs", "lr", "r"]
    assert v["blocks"][0]["element"]["type"] == "static_select"
    assert v["blocks"][0]["element"]["options"][0]["value"] == "banking"
    assert v["blocks"][2]["element"]["type"] == "radio_buttons"


def test_field_errors(driver, home, fake):
    add_dataset_row(home, "banking")
    status, body, _ = driver.submit_view("ft_train", {"dataset": ("static_select", "banking"), "alpha": "1.7",
                                                      "lr": "fast", "freeze": "emb,x", "r": "16",
                                                      "method": ("radio_buttons", "lora")})
    assert status == 200
    out = json.loads(body)
    assert out["response_action"] == "errors"
    assert set(out["errors"]) == {"alpha", "lr", "freeze"}
    assert "[0, 1]" in out["errors"]["alpha"]
    assert "number" in out["errors"]["lr"]
    status, body, _ = driver.submit_view("ft_train", {"dataset": ("static_select", "nope")})
    assert json.loads(body)["errors"] == {"dataset": "no dataset named 'nope'; see /ft datasets"}


def test_non_admin_submission_is_refused(driver, home):
    add_dataset_row(home, "banking")
    _, body, _ = driver.submit_view("ft_train", {"dataset": ("static_select", "banking")}, user="UNOBODY")
    assert "Only ftbot admins" in json.loads(body)["errors"]["dataset"]
