"""Hardened inputs over real HTTP: the Slack file download goes only to Slack's file hosts (the token never
elsewhere, redirects checked hop by hop, never file://); server-path reads only data files, size-capped, with
generic errors; Slack `dataset add` takes redact/dedupe/text/label; user text in replies never becomes live."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from storage import connect
from storage import datasets as table
from tests.slack.conftest import BOT_TOKEN
from tests.slack.data import cards_csv


@pytest.fixture()
def evil():
    """Another host that would love the bot token: records every request's headers."""
    seen: list[dict] = []

    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(dict(self.headers))
            body = cards_csv()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    srv.seen = seen
    srv.url = f"http://localhost:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def _upload_reply(driver, fake, f, name="cards", extra=""):
    ts, _ = driver.mention(f"dataset add {name}{extra}", files=[f])
    return fake.wait_for(lambda: fake.channel_messages("C0001", thread_ts=ts), 20, "reply")[0]["text"]


@pytest.mark.parametrize("where", ["direct", "redirect", "file"])
def test_download_never_sends_the_token_elsewhere(driver, fake, home, evil, where):
    f = fake.add_file("cards.csv", cards_csv())
    if where == "direct":
        f["url_private_download"] = f"{evil.url}/cards.csv"
    elif where == "redirect":
        fake.redirects["/files-pri/T0001-hop/cards.csv"] = f"{evil.url}/cards.csv"
        f["url_private_download"] = f"{fake.url}/files-pri/T0001-hop/cards.csv"
    else:
        f["url_private_download"] = "file:///etc/passwd"
    reply = _upload_reply(driver, fake, f)
    assert "outside Slack's file servers" in reply
    assert not any(BOT_TOKEN in json.dumps(h) for h in evil.seen)
    assert evil.seen == []
    with connect(home) as db:
        assert not table.exists(db, "cards")


def test_a_redirect_on_the_same_host_is_followed(driver, fake, home):
    f = fake.add_file("cards.csv", cards_csv())
    fake.redirects["/files-pri/T0001-moved/cards.csv"] = f["url_private_download"]
    f["url_private_download"] = f"{fake.url}/files-pri/T0001-moved/cards.csv"
    assert "registered" in _upload_reply(driver, fake, f)


def test_allowed_hosts():
    from bot.listeners.files import _allowed, slack_file_hosts
    none = slack_file_hosts("https://slack.com/api/")
    assert _allowed("https://files.slack.com/files-pri/T1-F1/x.csv", none)
    assert _allowed("https://a.slack-edge.com/x.csv", none)
    for bad in ("http://files.slack.com/x.csv", "https://files.slack.com.evil.io/x.csv", "file:///etc/passwd",
                "https://user:pw@files.slack.com/x", "ftp://files.slack.com/x", "https://evil.io/files.slack.com"):
        assert not _allowed(bad, none), bad


def test_upload_takes_the_clis_options(driver, fake, home):
    f = fake.add_file("cards.csv", cards_csv())
    reply = _upload_reply(driver, fake, f, extra=" redact=yes label=intent")
    assert "registered" in reply
    with connect(home) as db:
        row = table.get(db, "cards")
    assert row["redacted"] == 1 and row["label_column"] == "intent" and row["channel"] == "C0001"
    from ops.datasets import load
    texts = " ".join(e.text for e in load(home, "cards").train + load(home, "cards").validation)
    assert "jane.doe@example.com" not in texts


def test_slash_dataset_add_takes_the_clis_options(driver, fake, home, settings):
    from tests.slack.data import INTENTS
    # a repeat given another label: refused unless dedupe=yes (plain repeats are dropped anyway, with a warning)
    dup = cards_csv(pii=False) + f"I lost my card,top_up,{INTENTS['top_up'][1]}\n".encode()
    (settings.data_dir / "dup.csv").write_bytes(dup)
    driver.command("dataset add nodedupe dup.csv")
    driver.command("dataset add deduped dup.csv dedupe=yes text=text label=intent")
    fake.wait_for(lambda: len(fake.responses) >= 2 and all(r.get("text") for r in fake.responses), 30, "replies")
    texts = " ".join(r["text"] for r in fake.responses)
    assert "dedupe=yes" in texts, texts                                  # the first one is told how
    with connect(home) as db:
        assert not table.exists(db, "nodedupe") and table.exists(db, "deduped"), texts
        assert table.get(db, "deduped")["rows"] == 36
    status, body, _ = driver.command("dataset add x dup.csv shred=yes")
    assert b"dataset add takes" in body


def test_server_path_reads_only_data_files_and_never_echoes_them(driver, fake, settings):
    (settings.data_dir / ".env").write_text("SECRET_KEY=hunter2-very-secret\n")
    (settings.data_dir / "notes.cfg").write_text("SECRET_KEY=hunter2-very-secret\n")
    (settings.data_dir / "big.csv").write_bytes(b"text,label\n" + b"x,y\n" * 10)
    driver.command("dataset add a .env")
    driver.command("dataset add b notes.cfg")
    driver.command("dataset add c missing.csv")
    fake.wait_for(lambda: len(fake.responses) == 3, 10, "three replies")
    texts = [r["text"] for r in fake.responses]
    assert all("hunter2" not in t and "SECRET_KEY" not in t for t in texts)
    assert "not a data file" in texts[0] and "not a data file" in texts[1]
    assert "no file 'missing.csv'" in texts[2] and str(settings.data_dir) not in texts[2]


def test_server_path_reads_are_size_capped(driver, fake, settings, tmp_path):
    from bot.listeners.commands import resolve_data_path
    from engine.errors import DatasetError
    (settings.data_dir / "big.csv").write_bytes(b"text,label\n" + b"x,y\n" * 100)
    with pytest.raises(DatasetError, match="limit is 50"):
        resolve_data_path(settings.data_dir, "big.csv", max_bytes=50)
    assert resolve_data_path(settings.data_dir, "big.csv", max_bytes=10_000).name == "big.csv"


def test_user_text_in_replies_never_becomes_a_mention_or_link(driver, fake):
    status, body, _ = driver.command("status <!channel>")
    assert b"<!channel>" not in body and b"&lt;!channel&gt;" in body
    driver.command("dataset show <!here>")
    driver.command("dataset add <@U0BOSS> <https://evil.io|x>.csv")
    fake.wait_for(lambda: len(fake.responses) == 2, 10, "two replies")
    for r in fake.responses:
        flat = json.dumps(r)
        assert "<!here>" not in flat and "<@U0BOSS>" not in flat and "<https://evil.io" not in flat, r
    ts, _ = driver.mention("dataset add <!channel>")
    msg = fake.wait_for(lambda: fake.channel_messages("C0001", thread_ts=ts), 10, "reply")[0]
    assert "<!channel>" not in json.dumps(msg)
