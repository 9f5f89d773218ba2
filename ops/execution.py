"""Executing one claimed run — the job runner's side of runs: train, evaluate, write the artifact atomically,
finish the record. `execute` is the one narrow call through which a training process (jobs/child.py) reaches the
engine; a heartbeat-and-cancel monitor runs beside it on a thread of its own.
"""
from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from typing import Callable

from engine.config import TrainConfig
from engine.errors import FtbotError, TrainingError
from storage import connect, events
from storage import runs as table

from ops import datasets as datasets_ops
from ops.paths import run_ckpt_dir, run_dir, run_tmp_dir

HEARTBEAT_S = 5.0
CANCEL_POLL_S = 0.5
TAKEN_OVER = "the run was taken over by another worker"


def _as_dict(obj) -> dict:
    if obj is None:
        return {}
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    return dict(obj)


class _RunMonitor:
    """Heartbeat + cancel watch for one executing run, on a thread of its own so a slow step or a long
    evaluation still beats. `reason()` is the engine's should_stop."""

    def __init__(self, home, run_id: int, worker: str):
        self.home, self.run_id, self.worker = home, run_id, worker
        self._stop = threading.Event()
        self._reason: str | None = None
        self._progress: dict | None = None
        self._thread = threading.Thread(target=self._loop, name=f"run-{run_id}-monitor", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def close(self):
        self._stop.set()
        self._thread.join(timeout=10)

    def set_progress(self, progress: dict) -> None:
        self._progress = progress

    def reason(self) -> str | None:
        return self._reason

    def taken_over(self) -> bool:
        return self._reason == TAKEN_OVER

    def _loop(self) -> None:
        last_beat = 0.0
        while not self._stop.wait(CANCEL_POLL_S):
            try:
                with connect(self.home) as db:
                    if table.cancel_requested(db, self.run_id):
                        self._reason = table.get(db, self.run_id).get("reason") or "cancelled"
                    if time.monotonic() - last_beat >= HEARTBEAT_S:
                        if not table.heartbeat(db, self.run_id, self.worker, self._progress):
                            self._reason = self._reason or TAKEN_OVER
                        last_beat = time.monotonic()
            except Exception:  # a busy database must not kill the heartbeat thread; try again next tick
                continue


def _training_data(home, dataset: str, config: TrainConfig):
    """The registered dataset as the run trains on it: with use_protected (asked for) the protected attributes are
    inputs too (recorded on the card)."""
    data = datasets_ops.load(home, dataset)
    if config.use_protected:
        from engine.data.protected import as_inputs
        data = as_inputs(data)
    return data


def execute(home, run_id: int, *, worker: str, on_progress: Callable | None = None) -> dict:
    """Run one already-claimed run here: train, evaluate, write the artifact atomically, finish the record.
    Never raises for training problems: the run ends succeeded, failed or cancelled with the reason."""
    from engine import distributed
    from engine.evaluation.report import report as evaluate_report
    from engine.recipes.refit import refit, served_description
    from engine.train import train

    run_id = int(run_id)
    if not distributed.from_env().leader:
        return _follow(home, run_id)
    with connect(home) as db:
        run = table.get(db, run_id)
    tmp, ckpt, final = run_tmp_dir(home, run_id), run_ckpt_dir(home, run_id), run_dir(home, run_id)
    monitor = _RunMonitor(home, run_id, worker).start()
    try:
        config = TrainConfig.from_dict(run["config"])
        data = _training_data(home, run["dataset"], config)
        shutil.rmtree(tmp, ignore_errors=True)  # leftovers of a killed attempt; the checkpoint is what resumes
        tmp.mkdir(parents=True)

        snapshot: dict = {}

        def progress(p) -> None:
            d = _as_dict(p)
            kind = d.get("kind", "step")
            if kind != "milestone":  # an eval carries no losses: keep the last ones in the snapshot
                snapshot.update({k: v for k, v in d.items() if v is not None})
                monitor.set_progress(dict(snapshot))
            with connect(home) as db:
                events.add(db, run_id, kind, message=d.get("message"),
                           data={k: d.get(k) for k in ("metrics", "eta_s", "examples_per_s", "total_steps")},
                           step=d.get("step"), epoch=d.get("epoch"), loss=d.get("loss"), loss_new=d.get("loss_new"),
                           loss_pre=d.get("loss_pre"), lr=d.get("lr"))
                if kind != "milestone":
                    table.update(db, run_id, progress=snapshot)
            if on_progress:
                on_progress(p)

        result = train(config, data, tmp, checkpoint_dir=ckpt, on_progress=progress, should_stop=monitor.reason,
                       resume=True)
        res = _as_dict(result)
        common = dict(trainable_params=res.get("trainable_params"), total_params=res.get("total_params"),
                      pre_loss=res.get("pre_loss"))
        if monitor.taken_over():
            return _final(home, run_id)  # another worker resumes it from the checkpoint: touch nothing
        if res["status"] != "succeeded":
            shutil.rmtree(tmp, ignore_errors=True)
            with connect(home) as db:
                if table.finish(db, run_id, res["status"], reason=res.get("reason"), error=res.get("error"),
                                worker=worker, **common):
                    shutil.rmtree(ckpt, ignore_errors=True)
                    events.add(db, run_id, "milestone",
                               message=f"{res['status']}: {res.get('error') or res.get('reason')}")
            return _final(home, run_id)

        with connect(home) as db:
            events.add(db, run_id, "milestone", message="evaluating on the validation split")
        rep = evaluate_report(tmp, data)
        rep["train"] = {k: res.get(k) for k in ("wall_s", "train_examples_per_s", "steps", "best_step",
                                                "stopped_early", "reason")}
        # a multi-GPU run's other copies have gone when the leader gets here: a refit (small data only) runs alone;
        # whether it applies to this dataset is engine.refit's call (None when it does not)
        if not distributed.from_env().active and not monitor.reason():
            refitted = refit(config, data, tmp, on_progress=progress, should_stop=monitor.reason,
                             spent_s=float(res.get("wall_s") or 0.0) + float(rep.get("eval_s") or 0.0))
            if refitted is not None:
                rep["refitted"] = refitted
                if refitted.get("status") == "succeeded":      # what answers now: not validated on held-out rows
                    rep["served_model"] = served_description(tmp)
        if monitor.taken_over():
            shutil.rmtree(tmp, ignore_errors=True)
            return _final(home, run_id)
        if monitor.reason():  # cancelled during evaluation: still no artifact
            raise _Cancelled(monitor.reason())
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        shutil.rmtree(ckpt, ignore_errors=True)
        with connect(home) as db:
            ok = table.finish(db, run_id, "succeeded", worker=worker, artifact_path=str(final),
                              accuracy=rep.get("accuracy"), macro_f1=rep.get("macro_f1"), metrics=rep,
                              reason=res.get("reason"), **common)
            if not ok:  # cancelled or taken over at the very end: the record wins, drop the artifact
                shutil.rmtree(final, ignore_errors=True)
            else:
                events.add(db, run_id, "milestone", message="finished",
                           data={"accuracy": rep.get("accuracy"), "macro_f1": rep.get("macro_f1")})
        return _final(home, run_id)
    except _Cancelled as c:
        shutil.rmtree(tmp, ignore_errors=True)
        with connect(home) as db:
            if table.finish(db, run_id, "cancelled", reason=str(c), worker=worker):
                shutil.rmtree(ckpt, ignore_errors=True)
        return _final(home, run_id)
    except Exception as e:  # noqa: BLE001 — every failure becomes a failed run with a readable reason
        shutil.rmtree(tmp, ignore_errors=True)
        msg = str(e) if isinstance(e, FtbotError) else f"{type(e).__name__}: {e}"
        with connect(home) as db:
            if table.finish(db, run_id, "failed", error=msg, reason=msg, worker=worker):
                events.add(db, run_id, "milestone", message=f"failed: {msg}")
        return _final(home, run_id)
    finally:
        monitor.close()


class _Cancelled(Exception):
    pass


LEADER_RECORD_WAIT_S = 30.0


def _follow(home, run_id: int) -> dict:
    """A copy other than rank 0 of a gpus=N run: train its share and touch no record or file (rank 0 does).
    Ends when rank 0 does (every stop decision is shared). On a failure it gives rank 0 a moment to record the run
    — a failure both see (a non-finite loss) is rank 0's to report — and raises only if rank 0 did not, so torchrun
    stops a rank 0 that may be waiting for this copy."""
    from engine.train import train

    with connect(home) as db:
        run = table.get(db, run_id)
    config = TrainConfig.from_dict(run["config"])
    data = _training_data(home, run["dataset"], config)
    res = _as_dict(train(config, data, run_tmp_dir(home, run_id), checkpoint_dir=run_ckpt_dir(home, run_id),
                         resume=True))
    if res["status"] in ("succeeded", "cancelled"):
        return res
    deadline = time.monotonic() + LEADER_RECORD_WAIT_S
    while time.monotonic() < deadline:
        with connect(home) as db:
            if table.get(db, run_id)["status"] in table.TERMINAL:
                return res
        time.sleep(0.5)
    raise TrainingError(res.get("error") or res.get("reason") or "a training copy failed")


def _final(home, run_id: int) -> dict:
    with connect(home) as db:
        return table.get(db, run_id)


def run_foreground(home, run_id: int, *, worker: str = "cli", on_progress: Callable | None = None) -> dict:
    """`ftbot train` without --queue: claim the run we just created and execute it here."""
    with connect(home) as db:
        if not table.claim(db, run_id, worker):
            raise TrainingError(f"run #{run_id} was taken by a worker before it could start here")
    return execute(home, run_id, worker=worker, on_progress=on_progress)
