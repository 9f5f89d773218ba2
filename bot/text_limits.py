"""Slack's size limits, counted the way Slack counts them, and cuts that never break what Slack parses.

Slack counts characters in UTF-16 code units (an emoji outside the BMP is two), caps a section's text at 3,000, a
message's `text` at 40,000 and a message at 50 blocks. A cut must never land inside an entity (`&amp;`), a mention
(`<@U…>`), a channel or link (`<#C…>`, `<https://…|label>`): half of one renders as garbage or breaks the escaping
that keeps user text inert. Long lists are not cut silently: they spread over several sections and end with
"… and N more" and the command that shows everything.
"""
from __future__ import annotations

import re

SECTION_MAX = 3000
MESSAGE_TEXT_MAX = 40_000
BLOCKS_MAX = 50
ELLIPSIS = "…"
_OPEN_ENTITY = re.compile(r"&[#A-Za-z0-9]{0,8}")      # '&', '&am', '&#x1F' — an entity not yet closed


def units(text: str) -> int:
    """Length in UTF-16 code units, as Slack counts."""
    return len(text.encode("utf-16-le")) // 2


def _index_within(text: str, budget: int) -> int:
    """The largest code-point index i such that units(text[:i]) <= budget."""
    n = 0
    for i, ch in enumerate(text):
        n += 2 if ord(ch) > 0xFFFF else 1
        if n > budget:
            return i
    return len(text)


def safe_cut_index(text: str, i: int) -> int:
    """Move a cut at index i back so it lands outside any <…> token and any &…; entity."""
    lt = text.rfind("<", 0, i)
    if lt != -1 and text.rfind(">", lt, i) == -1:      # an unclosed <…> spans the cut
        i = lt
    amp = text.rfind("&", max(0, i - 9), i)
    if amp != -1 and _OPEN_ENTITY.fullmatch(text[amp:i]):
        i = amp
    return i


def cut(text: str, limit: int = SECTION_MAX, suffix: str = ELLIPSIS) -> str:
    """`text` if it fits in `limit` UTF-16 units, else its longest safe prefix plus `suffix` (a line break is
    preferred when one is near the end, so a list loses whole lines)."""
    text = str(text)
    if units(text) <= limit:
        return text
    budget = max(0, limit - units(suffix))
    i = safe_cut_index(text, _index_within(text, budget))
    nl = text.rfind("\n", 0, i)
    if nl != -1 and i - nl < 300:
        i = nl
    return text[:i].rstrip() + suffix


def sections(header: str, lines: list[str], *, more: str, limit: int = SECTION_MAX,
             max_blocks: int = BLOCKS_MAX - 2) -> list[dict]:
    """Section blocks holding `header` and as many whole `lines` as fit (each line cut to fit on its own), spread
    over at most `max_blocks` sections; if lines are left over, the last block ends '… and N more — {more}'."""
    lines = [cut(line, limit - 200) for line in lines]
    chunks: list[list[str]] = [[header] if header else []]
    shown = 0
    for line in lines:
        if units("\n".join(chunks[-1] + [line])) > limit:
            if len(chunks) >= max_blocks:
                break
            chunks.append([])
        chunks[-1].append(line)
        shown += 1
    if shown < len(lines):
        # make room in the last block for the count (dropping whole lines, never cutting one)
        while True:
            tail = f"… and {len(lines) - shown} more — {more}"
            if units("\n".join(chunks[-1] + [tail])) <= limit or not chunks[-1]:
                break
            chunks[-1].pop()
            shown -= 1
        chunks[-1].append(tail)
    return [_section("\n".join(c)) for c in chunks if c]


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, SECTION_MAX)}}
