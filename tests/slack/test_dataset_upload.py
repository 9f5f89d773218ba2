"""A CSV shared in a message that mentions the bot with `dataset add NAME` is downloaded and registered."""
from storage import connect
from storage import datasets as table
from tests.slack.data import cards_csv


def test_upload_registers_and_answers_in_thread(driver, fake, home):
    f = fake.add_file("cards.csv", cards_csv())
    ts, res = driver.mention("dataset add cards", files=[f])
    assert all(r[0] == 200 for r in res)
    reply = fake.wait_for(lambda: [m for m in fake.channel_messages("C0001", thread_ts=ts)
                                   if "registered" in m["text"]], 30, "registration reply")[0]
    flat = reply["blocks"][0]["text"]["text"]
    assert "37 rows" in flat and "lost_card" in flat and "Split" in flat and "email" in flat.lower()
    with connect(home) as db:
        row = table.get(db, "cards")
    assert row["rows"] == 37 and row["source"].startswith("slack:")
    assert len(fake.channel_messages("C0001", thread_ts=ts)) == 1   # app_mention + message → registered once


def test_upload_by_non_admin_is_refused(driver, fake, home):
    f = fake.add_file("cards.csv", cards_csv())
    ts, _ = driver.mention("dataset add cards", files=[f], user="UNOBODY")
    fake.wait_for(lambda: fake.channel_messages("C0001", thread_ts=ts), 5, "refusal")
    assert "Only ftbot admins" in fake.channel_messages("C0001", thread_ts=ts)[0]["text"]
    with connect(home) as db:
        assert not table.exists(db, "cards")
        assert db.execute("SELECT ok FROM audit WHERE action = 'dataset.add'").fetchone()[0] == 0


def test_bad_file_gets_one_clear_message(driver, fake, home):
    f = fake.add_file("empty.csv", b"")
    ts, _ = driver.mention("dataset add empty", files=[f])
    msg = fake.wait_for(lambda: fake.channel_messages("C0001", thread_ts=ts), 15, "error reply")[0]
    assert msg["text"].startswith(":warning:")
    with connect(home) as db:
        assert not table.exists(db, "empty")


def test_server_path_inside_data_dir(driver, fake, settings, home):
    (settings.data_dir / "cards.csv").write_bytes(cards_csv(pii=False))
    driver.command("dataset add cards2 cards.csv")
    r = fake.wait_for(lambda: [x for x in fake.responses if "registered" in x.get("text", "")], 30, "registered")[0]
    assert r["response_type"] == "in_channel"
    with connect(home) as db:
        assert table.get(db, "cards2")["rows"] == 36
