"""Slack's limits counted as Slack counts (UTF-16), cuts that never break an entity, mention or link, and lists
that say how many they left out."""
from slack_sdk.models.blocks import Block

from bot import blocks
from bot.text_limits import SECTION_MAX, cut, sections, units


def _valid(blks):
    for b in blks:
        Block.parse(b).validate_json()


def test_units_count_astral_characters_twice():
    assert units("a😀") == 3 and units("é") == 1


def test_cut_never_lands_inside_an_entity_mention_or_link():
    for filler in range(0, 40):
        text = "x" * filler + "&amp; <@U0123ABCD> <https://example.com/a|a link> &lt;b&gt; " * 200
        out = cut(text, 300)
        assert units(out) <= 300
        body = out[:-1]
        assert body.count("<") == body.count(">")
        tail = body[body.rfind("&"):] if "&" in body else ""
        assert not tail or ";" in tail
    emoji = "😀" * 2000
    out = cut(emoji, 3001)
    assert units(out) <= 3001 and "\ud83d" not in out


def test_300_datasets_are_all_listed_or_counted():
    rows = [{"name": f"dataset-with-a-long-name-{i:03d}", "rows": 1000 + i, "labels": ["a", "b"], "kind": "text"}
            for i in range(300)]
    text, blks = blocks.datasets_list(rows)
    _valid(blks)
    shown = sum(b["text"]["text"].count("`dataset-with") for b in blks)
    more = [b for b in blks if "more" in b["text"]["text"]]
    left = int(more[-1]["text"]["text"].split("… and ")[1].split(" ")[0]) if more else 0
    assert shown + left == 300
    assert all(units(b["text"]["text"]) <= SECTION_MAX for b in blks) and len(blks) <= 50


def test_a_long_list_ends_with_and_n_more_and_the_command():
    blks = sections("*Things*", [f"`thing-{i}` " + "y" * 200 for i in range(2000)], more="`ftbot things` lists all",
                    max_blocks=5)
    assert len(blks) == 5
    assert blks[-1]["text"]["text"].rstrip().endswith("`ftbot things` lists all")
    shown = sum(b["text"]["text"].count("`thing-") for b in blks)
    assert f"… and {2000 - shown} more" in blks[-1]["text"]["text"]


def test_200_deployments_on_the_home_tab_are_counted():
    deps = [{"scope": f"C{i:08d}", "run_id": i, "deployed_by": "UADMIN"} for i in range(200)]
    view = blocks.home_view([], deps, True)
    assert len(view["blocks"]) <= 100
    _valid(view["blocks"])
    text = "\n".join(b["text"]["text"] for b in view["blocks"] if b.get("type") == "section")
    shown = text.count("→ run #")
    assert shown == 200 or f"… and {200 - shown} more" in text


def test_very_long_failure_and_answer_fallback_text():
    run = {"id": 3, "status": "failed", "dataset": "d", "requester": "U1", "error": "boom " * 20000}
    text, blks = blocks.final_message(run, None)
    assert units(text) <= 40000 and units(blks[0]["text"]["text"]) <= 3000
    _valid(blks)
    text, blks = blocks.answer({"question_id": 1, "answer": "<!channel> & <@U1> & more", "confidence": 0.9,
                                "intent": "x", "run_id": 1})
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text


def test_plain_carries_the_words_of_the_blocks_not_only_the_gist():
    """What a reply falls back to when Slack refuses its blocks (bot/slack_calls.py Reply): every dataset line, the
    header, a context line; the buttons are left out; the size stays under the limit and cuts keep mentions whole."""
    rows = [{"name": f"set_{i}", "rows": 100 + i, "labels": ["a", "b"], "kind": "text"} for i in range(5)]
    text, blks = blocks.datasets_list(rows)
    _valid(blks)
    out = blocks.plain(text, blks + [blocks.context("by <@U0123ABCD>"),
                                     {"type": "actions", "elements": [blocks.button("Go", "go", "1")]}])
    assert all(f"set_{i}" in out for i in range(5)) and "*Datasets* (5)" in out and "<@U0123ABCD>" in out
    assert "Go" not in out
    long = [blocks.section("<@U0123ABCD> " * 200) for _ in range(20)]
    cut_out = blocks.plain("gist", long, limit=1000)
    assert units(cut_out) <= 1000 and cut_out[:-1].count("<") == cut_out[:-1].count(">")
    assert blocks.plain("only the gist", None) == "only the gist"
