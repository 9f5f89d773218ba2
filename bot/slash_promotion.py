"""`/ft` verbs for champions and challengers, parsed without I/O (bot/slash_text.py hands these verbs over):

  challenge RUN | challenge report [SCOPE] | challenge stop     promote     approve ID     reject ID [REASON…]
  rollback [SCOPE]     deployments [SCOPE]     status (no run: the deployments)     ask --ab QUESTION
"""
from __future__ import annotations

VERBS = ("challenge", "promote", "approve", "reject", "rollback", "deployments")
HELP = {
    "challenge RUN | challenge report [SCOPE] | challenge stop":
        "attach a run beside this channel's model: it answers every question unseen (admins); its report",
    "ask --ab QUESTION": "testers: the champion's and the challenger's answers side by side (or reply `ab` in a thread)",
    "promote": "ask to make this channel's challenger its model (with FTBOT_DEPLOY_APPROVAL=required, another "
               "approver approves)",
    "approve ID | reject ID": "decide a pending deploy request (approvers; never your own)",
    "rollback [SCOPE]": "go back to the previous model at once (admins)",
    "deployments": "deployment history, pending requests and challengers (also `/ft status`)",
}


def parse(verb: str, words: list[str], raw: str):
    from bot.slash_text import Command, UsageError, _count, _no_more, run_id
    if verb == "challenge":
        if not words:
            raise UsageError("use `/ft challenge RUN`, `/ft challenge report [SCOPE]` or `/ft challenge stop`")
        sub = words[0].lower()
        if sub == "report":
            _count("challenge report [SCOPE]", words[1:], 0, 1)
            return Command("challenge.report", args=words[1:], raw=raw)
        if sub == "stop":
            _no_more("challenge stop", words[1:])
            return Command("challenge.stop", raw=raw)
        _count("challenge RUN", words, 1, 1)
        return Command("challenge", args=[str(run_id(words[0]))], raw=raw)
    if verb == "promote":
        _no_more("promote", words)
        return Command("promote", raw=raw)
    if verb in ("approve", "reject"):
        if not words:
            raise UsageError(f"usage: `/ft {verb} ID` (the request number in the approval message)")
        rid = str(run_id(words[0], "ID"))
        if verb == "approve":
            _no_more("approve ID", words[1:])
        return Command(verb, args=[rid], text=" ".join(words[1:]), raw=raw)
    if verb == "rollback":
        _count("rollback [SCOPE]", words, 0, 1)
        return Command("rollback", args=words, raw=raw)
    _count("deployments [SCOPE]", words, 0, 1)
    return Command("deployments", args=words, raw=raw)


def parse_ask(rest: str, raw: str):
    """`ask --ab QUESTION` → Command('ask.ab'); None for an ordinary question."""
    from bot.slash_text import MAX_QUESTION, Command, UsageError
    head, _, q = rest.partition(" ")
    if head.lower() not in ("--ab", "-ab", "ab:"):
        return None
    q = q[:MAX_QUESTION].strip()
    if not q:
        raise UsageError("ask --ab needs a question, e.g. `/ft ask --ab where is my card?`")
    return Command("ask.ab", text=q, raw=raw)
