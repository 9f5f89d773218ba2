"""`ftbot demo`: the whole job offline — register the shipped sample data, fine-tune the bundled model briefly,
evaluate against the sklearn baseline, deploy, and answer a few customer-service questions.

The demo deploys and approves as made-up people, so it runs in a home of its own (.ftbot-demo, or --home), never in
FTBOT_HOME, and refuses a home that holds anything but its own work."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from engine.config import TrainConfig
from engine.data import sample_path
from ops import datasets, deployments, execution, questions, runs
from ops.access import Actor

from bot import render

DEMO = Actor.system("demo")
DEMO_HOME = Path(".ftbot-demo")
SAMPLES = ("banking-sample", "credit-sample")


def demo_home(args) -> Path:
    """--home when given, else .ftbot-demo (FTBOT_HOME is ignored: it may be a team's real home)."""
    from engine.errors import FtbotError
    home = Path(getattr(args, "home", None) or DEMO_HOME).expanduser().resolve()
    if (home / "ftbot.db").exists():
        foreign = [d["name"] for d in datasets.list_all(home) if d["name"] not in SAMPLES]
        foreign += [f"run #{r['id']}" for r in runs.list_recent(home, limit=1000)
                    if (r.get("origin") or {}).get("source") != "demo"]
        if foreign:
            raise FtbotError(f"{home} holds work that is not the demo's ({', '.join(foreign[:3])}); the demo deploys "
                             "and approves as made-up people, so it runs in a home of its own: `ftbot demo` (uses "
                             f"{DEMO_HOME}) or `ftbot demo --home NEW_FOLDER`")
    return home

QUESTIONS = [
    "my new card still hasn't shown up, it's been ten days",
    "I think someone stole my card, please block it",
    "what rate do you use to convert euros to dollars?",
    "why was I charged a fee for taking cash out at the ATM?",
    "can you tell me a joke about penguins?",
]


def _ensure_dataset(home, name: str, path, say, **options) -> dict:
    if any(d["name"] == name for d in datasets.list_all(home)):
        say(f"• dataset {name} already registered")
        return datasets.get(home, name)
    row = datasets.register(home, name, path, actor=DEMO, **options)
    say("• " + render.dataset(row).replace("\n", "\n  "))
    return row


def _train(home, dataset: str, options: dict, say) -> dict:
    run = runs.submit(home, dataset, TrainConfig.parse(options), actor=DEMO, origin={"source": "demo"})
    say(f"• run #{run['id']}: {render.plan(run['plan'])}")
    last = [0.0]

    def progress(p) -> None:
        d = p.to_dict()
        if d["kind"] == "eval" and d.get("metrics"):
            m = d["metrics"]
            say(f"    epoch {d['epoch']:.1f}: validation accuracy {m.get('accuracy', 0):.3f}, "
                f"macro-F1 {m.get('macro_f1', 0):.3f}")
        elif d["kind"] == "milestone" and (d.get("message") or "").startswith("refit"):
            say(f"    {d['message']}")
        elif d["kind"] == "step" and time.monotonic() - last[0] > 10:
            last[0] = time.monotonic()
            pre = f", L_pre {d['loss_pre']:.3f}" if d.get("loss_pre") is not None else ""
            what = f"{d['message']}, " if d.get("message") else ""
            say(f"    {what}step {d['step']}/{d['total_steps']}: L_new {d.get('loss_new') or 0:.3f}{pre}, "
                f"eta {d.get('eta_s') or 0:.0f}s")

    final = execution.run_foreground(home, run["id"], worker="demo", on_progress=progress)
    say("  " + render.run(final).replace("\n", "\n  "))
    return final


def run_demo(home, *, quick: bool = False, out: Callable | None = print) -> dict:
    say = out or (lambda *_: None)
    t0 = time.monotonic()
    say("ftbot demo — offline: shipped sample data, bundled all-MiniLM-L6-v2, SQLite in " + str(home))
    say("1. register the sample data")
    _ensure_dataset(home, "banking-sample", sample_path("banking"), say)
    if not quick:
        # age is a protected attribute: kept out of the model, used by the fairness report
        _ensure_dataset(home, "credit-sample", sample_path("credit"), say, protected="age<25")

    say("2. fine-tune: LoRA on the customer-service intents (α=0.1: keep sentence embeddings near the pretrained ones)")
    bank = _train(home, "banking-sample", {"method": "lora", "alpha": 0.1, "epochs": 2 if quick else 4}, say)
    result = {"banking": render.run_json(bank)}
    if not quick:
        say("3. fine-tune: full, embeddings and layers 0-1 frozen, on the credit sample (serialized tabular rows;"
            " the head also reads the raw columns)")
        # epochs: the tabular default (6); 2 epochs left the model predicting the majority class
        credit = _train(home, "credit-sample", {"method": "full", "freeze": "embeddings,0-1"}, say)
        result["credit"] = render.run_json(credit)
        if credit["status"] == "succeeded":
            result["credit_work"] = _credit_story(home, credit, say)
    if bank["status"] != "succeeded":
        say("the banking run did not succeed; nothing to deploy")
        return result

    say("4. deploy the banking run to the default scope and ask it questions")
    deployments.deploy(home, bank["id"], scope="default", actor=DEMO)
    answers = []
    for q in QUESTIONS:
        a = questions.ask(home, q, actor=DEMO)
        answers.append(a)
        say(f"  Q: {q}\n  A: " + render.answer(a).replace("\n", "\n  "))
    result["answers"] = answers
    result["promotion"] = _promotion_story(home, bank, quick, say)
    result["wall_s"] = round(time.monotonic() - t0, 1)
    say(f"done in {result['wall_s']:.0f}s. Try: ftbot --home {home} ask \"how do I change my PIN?\"")
    return result


def _credit_story(home, credit: dict, say) -> dict:
    """The credit run at work: its fairness line, 20 sample applicants scored with reasons, one declined applicant
    explained, and the validation report written."""
    import csv
    import tempfile

    from ops import reporting, scoring
    for name, f in ((credit.get("metrics") or {}).get("fairness") or {}).items():
        say(f"  fairness ({name}): adverse impact ratio {f['adverse_impact_ratio']:.2f} (95 % "
            f"{f['air_interval'][0]:.2f}–{f['air_interval'][1]:.2f}), equal-opportunity difference "
            f"{f['equal_opportunity_difference']:.2f}{' — flagged' if f['flagged'] else ''}")
    say("  score 20 sample applicants (label column dropped) with their reasons (ftbot score):")
    with tempfile.TemporaryDirectory(prefix="ftbot-demo-") as tmp:
        with open(sample_path("credit"), newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))[:20]
        src = Path(tmp) / "applicants.csv"
        with open(src, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, [c for c in rows[0] if c != "risk"], extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        res = scoring.score(home, credit["id"], src, out=Path(home) / "scored-applicants.csv", actor=DEMO)
        say("  " + render.scored(res).replace("\n", "\n  "))
        declined = res.get("declined") or []
        if declined:
            e = scoring.explain(home, credit["id"], src, row=declined[0]["n"], actor=DEMO)
            say("  one declined applicant, explained (ftbot explain):\n    "
                + render.explained(e).replace("\n", "\n    "))
    rep = reporting.report(home, credit["id"], out=Path(home) / f"report-run-{credit['id']}.md", actor=DEMO)
    say(f"  validation report (ftbot report): {rep['out_path']}")
    return {"scored": res["rows"], "counts": res["counts"], "report": rep["out_path"]}


def _promotion_story(home, champion: dict, quick: bool, say) -> dict:
    """A challenger beside the champion, its report, a promotion that needs a second person, and a rollback — with
    two local identities, cli:alice (asks) and cli:bob (approves)."""
    from engine.errors import FtbotError
    from ops import challengers, promotion
    from ops.access import Policy
    from ops.policy import set_approval

    from bot.render import history_text, report_text, request_line
    policy = Policy.from_env({"FTBOT_ADMINS": "cli:alice,cli:bob", "FTBOT_APPROVERS": "cli:alice,cli:bob"})
    alice, bob = policy.cli("alice"), policy.cli("bob")
    say("5. a challenger: plain LoRA (α=0, another seed) answers beside the champion, unseen by askers")
    chall = _train(home, "banking-sample", {"method": "lora", "alpha": 0, "seed": 7, "epochs": 1 if quick else 2},
                   say)
    if chall["status"] != "succeeded":
        say("the challenger run did not succeed; skipping the promotion story")
        return {}
    challengers.start(home, chall["id"], scope="default", actor=alice)
    for q in QUESTIONS + ["please block my card, it was stolen", "how much is 100 EUR in USD?"]:
        questions.ask(home, q, actor=DEMO)
    challengers.drain(60)
    rep = challengers.report(home, "default")
    say("  " + report_text(rep).replace("\n", "\n  "))
    say("6. promotion with four eyes: cli:alice tightens the approval policy to required (`ftbot approval required`),"
        " asks, cli:bob approves")
    policy_row = set_approval(home, "required", actor=alice)
    say(f"  approval policy: {policy_row['mode']} (set by {policy_row['set_by'] or 'the first start'})")
    req = promotion.request_deploy(home, chall["id"], scope="default", actor=alice)
    say("  " + request_line(req))
    try:
        promotion.approve(home, req["id"], actor=alice)
    except FtbotError as e:
        say(f"  cli:alice approves her own request → refused: {e}")
    done = promotion.approve(home, req["id"], actor=bob)
    say(f"  cli:bob approves → {done['status']}; run #{done['run_id']} answers now: "
        f"{questions.ask(home, QUESTIONS[1], actor=DEMO)['intent']}")
    back = promotion.rollback(home, scope="default", actor=alice)
    say(f"7. rollback by cli:alice → run #{back['run_id']} answers again (no approval needed to go back)")
    say("  " + history_text(promotion.history(home, "default")).replace("\n", "\n  "))
    return {"challenger_run_id": chall["id"], "report": {k: rep[k] for k in ("questions", "agreement")},
            "request_id": req["id"], "approved_by": done["decided_by"], "rolled_back_to": back["run_id"]}
