"""Champion latency with a challenger attached, and while a training runs — the path the bot takes
(ops.questions.ask: resolve the champion, answer, store the question, queue the challenger's background answer).

Three phases on one FTBOT_HOME (a temporary one), questions arriving open-loop every --gap-ms (a busy channel, far
faster than people type), measured in the same run:
  1. champion alone and 2. champion with a challenger attached — interleaved in blocks (off, on, off, on, …) so
     load from other processes on a shared machine hits both alike;
  3. champion with the challenger attached while a training process runs beside it, started the way the worker
     starts one (jobs.child.yield_to_answers: nice 10, one core fewer).
Also: memory held per loaded model (parameters + buffers) and the process RSS after each load, and whether both
models stay in the predictor cache after a third model is loaded.

    python bench/qa_latency.py --challenger [--questions 240] [--gap-ms 40]
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _artifact(path: Path, epochs: int, seed: int) -> Path:
    if (path / "config.json").exists():
        return path
    from engine.config import TrainConfig
    from engine.data import prepare_dataset, sample_path
    from engine.train import train
    data = prepare_dataset(sample_path("banking"), dedupe=True)
    res = train(TrainConfig.from_options({"epochs": epochs, "seed": seed}), data, path)
    if res.status != "succeeded":
        raise RuntimeError(res.error)
    return path


def _stats(v: list[float]) -> dict:
    return {"p50_ms": common.percentile(v, 50), "p90_ms": common.percentile(v, 90),
            "p99_ms": common.percentile(v, 99), "mean_ms": sum(v) / len(v), "n": len(v)}


def _paced(ask, qs, gap_s: float) -> list[float]:
    """Ask each question at its arrival time (open loop); the latency is the whole ask call."""
    out, t_next = [], time.perf_counter()
    for q in qs:
        now = time.perf_counter()
        if now < t_next:
            time.sleep(t_next - now)
        t = time.perf_counter()
        ask(q)
        out.append(1000 * (time.perf_counter() - t))
        t_next = max(t_next + gap_s, time.perf_counter())
    return out


def _trainer(home: Path) -> subprocess.Popen:
    """A training process as the worker would run it (lower priority, fewer threads), long enough to outlast phase 3."""
    code = ("from jobs.child import yield_to_answers; print(yield_to_answers(), flush=True)\n"
            "from engine.config import TrainConfig\nfrom engine.data import prepare_dataset, sample_path\n"
            "from engine.train import train\n"
            "data = prepare_dataset(sample_path('banking'), dedupe=True)\n"
            f"train(TrainConfig.from_options({{'epochs': 50, 'method': 'full', 'patience': 0}}), data, r'{home / 'bench-train'}')\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", code], env=env, cwd=str(ROOT), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def run(args) -> dict:
    from engine import inference
    from engine.data import prepare_dataset, sample_path
    from ops import challengers, datasets, deployments, questions
    from ops.access import Actor
    from storage import connect
    from storage import runs as runs_table

    art_a = _artifact(common.OUT / "qa_artifact", 3, 42)
    art_b = _artifact(common.OUT / "qa_artifact_challenger", 1, 7)
    home = Path(tempfile.mkdtemp(prefix="ftbot-bench-"))
    os.environ["FTBOT_HOME"] = str(home)
    actor = Actor.system("bench")
    datasets.register(home, "banking-sample", sample_path("banking"), actor=actor, dedupe=True)
    ids = []
    for art in (art_a, art_b):
        with connect(home) as db:
            from engine.config import TrainConfig
            r = runs_table.create(db, dataset="banking-sample", config=TrainConfig.from_options({}).to_dict(),
                                  requester="bench", origin={}, pre_loss=None)
            runs_table.claim(db, r["id"], "bench")
            runs_table.finish(db, r["id"], "succeeded", artifact_path=str(art), accuracy=None, macro_f1=None)
        ids.append(r["id"])
    deployments.deploy(home, ids[0], scope="default", actor=actor)

    val = prepare_dataset(sample_path("banking"), dedupe=True).validation
    qs = [e.text for e in val] * (1 + args.questions // max(1, len(val)))
    qs = qs[:args.questions]
    result = {"bench": "qa_challenger", "machine": common.machine(), "questions": len(qs), "gap_ms": args.gap_ms,
              "torch_threads": __import__("torch").get_num_threads()}

    # memory: each model's own bytes, and RSS growth as each loads
    rss0 = rss_mb()
    pa = inference.get_predictor(art_a)
    rss1 = rss_mb()
    pb = inference.get_predictor(art_b)
    rss2 = rss_mb()
    result["memory"] = {"champion_model_mb": inference.model_bytes(pa) / 2**20,
                        "challenger_model_mb": inference.model_bytes(pb) / 2**20,
                        "rss_before_mb": rss0, "rss_after_champion_mb": rss1, "rss_after_challenger_mb": rss2}
    ask = lambda q: questions.ask(home, q, actor=actor)  # noqa: E731
    for q in qs[:20]:                                      # warm both paths
        ask(q)
    challengers.start(home, ids[1], scope="default", actor=actor)
    for q in qs[:20]:
        ask(q)
    challengers.drain(30)

    # phases 1 and 2, interleaved in blocks
    block = args.block
    off, on = [], []
    for i in range(0, len(qs), block):
        chunk = qs[i:i + block]
        for attached in ((False, True) if (i // block) % 2 == 0 else (True, False)):
            if attached:
                if challengers.active(home, "default") is None:
                    challengers.start(home, ids[1], scope="default", actor=actor)
                on += _paced(ask, chunk, args.gap_ms / 1000)
                challengers.drain(30)
            else:
                if challengers.active(home, "default") is not None:
                    challengers.stop(home, scope="default", actor=actor)
                off += _paced(ask, chunk, args.gap_ms / 1000)
    result["champion_alone"], result["champion_with_challenger"] = _stats(off), _stats(on)
    with connect(home) as db:
        result["shadow_answers_stored"] = db.execute("SELECT COUNT(*) FROM shadow_answers").fetchone()[0]
    result["ratio_p50_with_over_alone"] = result["champion_with_challenger"]["p50_ms"] / result["champion_alone"]["p50_ms"]
    result["ratio_p99_with_over_alone"] = result["champion_with_challenger"]["p99_ms"] / result["champion_alone"]["p99_ms"]

    # phase 3: a training beside it
    if challengers.active(home, "default") is None:
        challengers.start(home, ids[1], scope="default", actor=actor)
    proc = _trainer(home)
    first = proc.stdout.readline().strip()           # the child's priority settings, once it has applied them
    time.sleep(args.train_warmup_s)                   # let it reach its training steps
    busy = _paced(ask, qs, args.gap_ms / 1000)
    still_training = proc.poll() is None
    proc.terminate()
    proc.wait(30)
    challengers.drain(30)
    result["champion_with_challenger_while_training"] = _stats(busy)
    result["training_process"] = {"settings": first, "was_running_throughout": still_training}

    # cache: a third model must not evict champion or challenger
    before = inference.cache_info()
    third = inference.get_predictor(common.OUT / "qa_artifact_third") if (common.OUT / "qa_artifact_third").exists() \
        else None
    after = inference.cache_info()
    result["cache"] = {"max_size": before["max_size"], "pinned": len(after["pinned"]),
                       "champion_and_challenger_loaded": {str(Path(art_a).resolve()), str(Path(art_b).resolve())}
                       <= set(after["keys"]), "third_model_loaded": third is not None}
    result["targets"] = {
        "p50_within_10pct": result["ratio_p50_with_over_alone"] <= 1.10,
        "p99_within_10pct": result["ratio_p99_with_over_alone"] <= 1.10,
        "p99_le_50ms_while_training": result["champion_with_challenger_while_training"]["p99_ms"] <= 50}
    return result


def main(argv=None) -> None:
    p = common.parser("champion latency with a challenger attached and beside a training")
    p.add_argument("--questions", type=int, default=240)
    p.add_argument("--gap-ms", type=float, default=40.0, help="time between question arrivals")
    p.add_argument("--train-warmup-s", type=float, default=20.0)
    p.add_argument("--block", type=int, default=10, help="questions per block when alternating alone/with")
    args = p.parse_args(argv)
    if args.threads:
        common.setup_threads(args.threads)
    else:                       # what `ftbot serve` uses (ops/serving.py, FTBOT_ANSWER_THREADS)
        from ops import serving
        serving.configure()
    result = run(args)
    for k in ("memory", "champion_alone", "champion_with_challenger", "champion_with_challenger_while_training",
              "training_process", "cache", "targets"):
        common.log(f"{k}: {result[k]}")
    common.save("qa_challenger", result)
    common.emit(result, args.json)


if __name__ == "__main__":
    main()
