"""`/ft` text parsing: quotes, emoji, non-Latin scripts, very long text, key=value, words that look like fields."""
import pytest

from bot.slash_text import MAX_TEXT, UsageError, parse, split
from engine.errors import ConfigError


def test_empty_and_help():
    assert parse("").name == "help"
    assert parse("   ").name == "help"
    assert parse("HELP").name == "help"


def test_train_key_values_and_quotes():
    c = parse('train banking method=full alpha=0.2 freeze="embeddings,0-1" epochs=2 lr=3e-4')
    assert c.name == "train" and c.args == ["banking"]
    assert c.options == {"method": "full", "alpha": "0.2", "freeze": "embeddings,0-1", "epochs": "2", "lr": "3e-4"}


def test_smart_quotes_and_html_escapes():
    c = parse("train banking freeze=“0-1”")
    assert c.options["freeze"] == "0-1"
    assert parse("ask is 3 &lt; 5 &amp; ok?").text == "is 3 < 5 & ok?"


@pytest.mark.parametrize("bad,key", [("train banking lr=abc", "lr"), ("train banking alpha=1.5", "alpha"),
                                     ("train banking method=sgd", "method"), ("train banking colour=red", "colour"),
                                     ("train banking freeze=emb,x", "freeze")])
def test_bad_keys_name_the_key_and_allowed_values(bad, key):
    with pytest.raises(ConfigError) as e:
        parse(bad)
    assert e.value.field in (key, "loss_alpha" if key == "alpha" else key)
    assert key in str(e.value)
    if key == "method":
        assert "lora" in str(e.value) and "full" in str(e.value)
    if key == "colour":
        assert "known keys" in str(e.value) and "alpha" in str(e.value)


def test_duplicate_key():
    with pytest.raises(ConfigError, match="given twice"):
        parse("train banking lr=1e-3 lr=1e-4")


def test_ask_keeps_everything_verbatim():
    q = 'where is my card? 💳 "urgent" lr=3 method=full'
    c = parse("ask " + q)
    assert c.name == "ask" and c.text == q and c.options == {}


def test_non_latin_and_emoji():
    assert parse("ask 我的卡在哪里？").text == "我的卡在哪里？"
    assert parse("ask Где моя карта? 🙂").text == "Где моя карта? 🙂"
    assert parse("dataset show ملفات").args == ["ملفات"]
    assert parse("train données_été epochs=1").args == ["données_été"]


def test_very_long_text_is_cut_not_rejected():
    c = parse("ask " + "x" * 50_000)
    assert c.name == "ask" and 0 < len(c.text) <= MAX_TEXT


def test_unbalanced_quotes_do_not_crash():
    assert split('a "b c') == ["a", '"b', "c"]
    assert parse('dataset show "unterminated').args == ['"unterminated']


def test_run_ids_and_usage_errors():
    assert parse("status #7").args == ["7"]
    assert parse("compare 3 #4").args == ["3", "4"]
    with pytest.raises(UsageError, match="run number"):
        parse("status seven")
    with pytest.raises(UsageError, match="usage"):
        parse("compare 3")
    with pytest.raises(UsageError, match="unknown command"):
        parse("frobnicate now")
    with pytest.raises(UsageError, match="dataset first"):
        parse("train lr=1e-3")


def test_words_that_look_like_form_fields():
    # 'dataset=banking' is not a dataset name and not a training key: a clear message, not a crash.
    with pytest.raises(ConfigError, match="dataset"):
        parse("train banking dataset=other")
    with pytest.raises(UsageError):
        parse("train banking --lr 3")


def test_train_without_arguments_opens_form():
    c = parse("train")
    assert c.name == "train" and c.args == []
