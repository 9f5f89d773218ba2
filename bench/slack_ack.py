"""Slack acknowledgement latency under load: 50 signed `/ft` commands at once while a training runs.

    python bench/slack_ack.py [--n 50] [--json]

Starts the fake Slack Web API and the real ftbot server (Bolt over HTTP) on 127.0.0.1, registers a small dataset,
starts a training (tiny BERT) in a worker thread, then fires N concurrent signed commands (help, runs, status, ask,
train) and measures the time to each HTTP acknowledgement. The reference, measured in the same run and on the same
HTTP stack, is a trivial Bolt app that only acks. Slack's limit is 3 s.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TOKEN, SECRET = "xoxb-bench-token", "bench-signing-secret"


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))]


def fire(driver, texts, users):
    def one(i):
        status, _, secs = driver.command(texts[i], user=users[i], tag=f"bench{i}")
        return status, secs
    with ThreadPoolExecutor(max_workers=len(texts)) as pool:
        return list(pool.map(one, range(len(texts))))


def reference_app(fake, settings, port=0):
    """A Bolt app that does nothing but ack, on the same HTTP server as ftbot's."""
    from slack_bolt import App
    from slack_bolt.adapter.wsgi import SlackRequestHandler
    from slack_sdk import WebClient

    from bot.server import HTTPServer, wsgi_app
    app = App(client=WebClient(token=TOKEN, base_url=fake.api_url), signing_secret=SECRET,
              token_verification_enabled=False)

    @app.command("/ft")
    def ft(ack):
        ack()
    return HTTPServer(wsgi_app(SlackRequestHandler(app)), "127.0.0.1", port, settings).start()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from bot.server import start
    from bot.settings import Settings
    from storage import connect
    from storage import runs as runs_table
    from tests.fixtures.models import make_tiny_bert
    from tests.slack.data import cards_csv
    from tests.slack.driver import Driver
    from tests.slack.fake_slack import FakeSlack

    tmp = Path(tempfile.mkdtemp(prefix="ftbot-bench-"))
    home = tmp / "home"
    fake = FakeSlack(TOKEN).start()
    settings = Settings.from_env({"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
                                  "SLACK_API_URL": fake.api_url, "FTBOT_ADMINS": "UADMIN", "FTBOT_HOME": str(home)})
    running = start(settings, "127.0.0.1", 0, embedded_worker=False)
    driver = Driver(running.url, SECRET, fake)
    ref = reference_app(fake, settings)
    ref_driver = Driver(f"http://127.0.0.1:{ref.port}", SECRET, fake)
    try:
        from ops import datasets as ds_service
        data = tmp / "cards.csv"
        data.write_bytes(cards_csv(pii=False))
        ds_service.register(home, "cards", data, actor="UADMIN")
        base = make_tiny_bert(tmp / "tiny-bert", layers=4, hidden=64)

        training = "none"
        stop = threading.Event()
        try:
            import engine.train  # noqa: F401
            from engine.config import TrainConfig
            from ops import execution, runs as run_service
            run = run_service.submit(home, "cards", TrainConfig.parse({"base": str(base), "epochs": 200, "method": "full",
                                                     "batch_size": 8, "max_length": 32, "patience": 0}),
                                     actor="UADMIN", origin={"channel": "C0001", "user": "UADMIN"})

            def work():
                with connect(home) as db:
                    r = runs_table.claim_next(db, "bench-worker")
                if r:
                    execution.execute(home, r["id"], worker="bench-worker")
            threading.Thread(target=work, daemon=True).start()
            training = f"run #{run['id']} (tiny BERT, full fine-tuning) in a worker thread"
            deadline = time.time() + 60
            while time.time() < deadline:   # wait until it really trains
                with connect(home) as db:
                    if (runs_table.get(db, run["id"]).get("progress") or {}).get("step"):
                        break
                time.sleep(0.2)
        except ImportError:
            training = "engine.train missing: a CPU-bound thread stands in for training"

            def burn():
                import math
                while not stop.is_set():
                    sum(math.sqrt(i) for i in range(20000))
            threading.Thread(target=burn, daemon=True).start()

        mix = ["help", "runs", "status 1", "ask where is my card?", f"train cards base={base} epochs=1"]
        texts = [mix[i % len(mix)] for i in range(args.n)]
        users = ["UADMIN"] * args.n
        fire(driver, texts[:5], users[:5])                    # warm-up (auth.test, imports)
        fire(ref_driver, ["help"] * 5, users[:5])
        results = fire(driver, texts, users)
        ref_results = fire(ref_driver, ["help"] * args.n, users)
        stop.set()
        # cancel what the burst queued so nothing keeps training after the bench
        with connect(home) as db:
            for r in runs_table.list_recent(db, limit=100):
                if r["status"] in ("queued", "running"):
                    runs_table.request_cancel(db, r["id"], "bench over")
    finally:
        # let the replies behind the acks reach the fake before it goes away (else: connection refused noise)
        if running.deps.executor is not None:
            running.deps.executor.shutdown(wait=True)
        running.stop()
        ref.stop()
        fake.stop()

    secs = [s for _, s in results]
    ref_secs = [s for _, s in ref_results]
    out = {
        "n": args.n, "training": training,
        "ok": sum(1 for st, _ in results if st == 200),
        "p50_ms": round(1000 * statistics.median(secs), 1), "p99_ms": round(1000 * pct(secs, 99), 1),
        "max_ms": round(1000 * max(secs), 1),
        "ref_p50_ms": round(1000 * statistics.median(ref_secs), 1), "ref_p99_ms": round(1000 * pct(ref_secs, 99), 1),
        "under_3s": sum(1 for s in secs if s < 3.0),
    }
    out["p50_ratio"] = round(out["p50_ms"] / max(out["ref_p50_ms"], 1e-3), 2)
    out["p99_ratio"] = round(out["p99_ms"] / max(out["ref_p99_ms"], 1e-3), 2)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{args.n} concurrent /ft commands (help, runs, status, ask, train) while training: {training}")
        print(f"  ftbot      p50 {out['p50_ms']:8.1f} ms   p99 {out['p99_ms']:8.1f} ms   max {out['max_ms']:.1f} ms"
              f"   {out['ok']}/{args.n} HTTP 200, {out['under_3s']}/{args.n} under 3 s")
        print(f"  ack-only   p50 {out['ref_p50_ms']:8.1f} ms   p99 {out['ref_p99_ms']:8.1f} ms   (trivial Bolt app, "
              "same server, same run)")
        print(f"  ratio      p50 ×{out['p50_ratio']}   p99 ×{out['p99_ratio']}")
    return 0 if out["under_3s"] == args.n else 1


if __name__ == "__main__":
    sys.exit(main())
