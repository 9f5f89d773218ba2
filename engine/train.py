"""The training loop: one readable function, a fixed order per step (forward, mix losses, backward, clip, optimizer
step, scheduler step, log), one progress callback, and a result that says succeeded/failed/cancelled even on OOM.

Setup, validation, checkpoints and the candidate it writes are helpers around it (engine/training/) so that the
loop reads top to bottom.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Callable

import torch

from engine.config import TrainConfig
from engine.data.types import PreparedDataset
from engine.errors import FtbotError, TrainingError
from engine.losses import mix, penalties, task_loss
from engine.progress import Plan, Progress, TrainResult
from engine import distributed as dist
from engine.device import resolve_device
from engine.training import checkpoints
from engine.training.candidate import write_candidate
from engine.training.setup import State, safe_callback, seed_everything, setup
from engine.training.validation import evaluate_and_track, restore_best

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 1.0   # 'step' progress at most this often (Slack edits are throttled further by the notifier)
GO, CANCEL, BUDGET = 0, 1, 2   # rank 0's per-step decision, shared with the other copies of a multi-GPU run


def plan(config: TrainConfig, data: PreparedDataset, *, timed: bool = False, examples_per_s: float | None = None) -> Plan:
    """What will train, shown before launch (engine/preview.py: no weights are loaded unless `timed`)."""
    from engine.preview import preview
    return preview(config, data, examples_per_s=examples_per_s, timed=timed)


def train(config: TrainConfig, data: PreparedDataset, out_dir: str | Path, *, checkpoint_dir: str | Path | None = None,
          on_progress: Callable[[Progress], None] | None = None, should_stop: Callable[[], str | None] | None = None,
          resume: bool = True, keep_checkpoints: bool = False, keep_last: bool = False) -> TrainResult:
    """Fine-tune on data.train, evaluate on data.validation, write the artifact into out_dir on success only.

    Under torchrun (WORLD_SIZE > 1, see engine/distributed.py) every copy calls this; only rank 0 reports, saves
    checkpoints and writes the artifact, and only its `should_stop` counts.

    `keep_last`: evaluate once, at the end, and keep the final weights (a refit on train + validation,
    engine/recipes/refit.py: there is no held-out row left to choose a checkpoint on)."""
    t_start = time.monotonic()
    ctx = dist.from_env()
    emit = safe_callback(on_progress if ctx.leader else None)
    result = TrainResult(status="failed")
    threads_before = torch.get_num_threads()
    s, group = None, False
    try:
        if config.threads:
            torch.set_num_threads(config.threads)
        device = dist.device_for(ctx, resolve_device(config))
        group = dist.init(ctx, device)
        seed_everything(config.seed)
        s = setup(config, data, device=device)
        if keep_last:
            s.eval_steps = {s.total_steps}
        dist.broadcast_parameters(s.params, ctx)
        model, st = s.built.model, State()
        result.trainable_params, result.total_params = s.built.trainable_params, s.built.total_params
        result.pre_loss = s.built.pre_loss
        resumed = resume and checkpoint_dir is not None and checkpoints.load_checkpoint(s, st, checkpoint_dir)
        emit(Progress("milestone", st.step, s.total_steps, st.step / s.steps_per_epoch,
                      message=(f"resumed at step {st.step}" if resumed else "started") +
                      f": {s.built.trainable_params:,} of {s.built.total_params:,} parameters train" +
                      _contrastive_note(s.contrastive, resumed) + _probe_note(s.probe, resumed, s.contrastive)))

        order, order_epoch, last_emit = None, None, 0.0
        t_loop, steps_here, examples_here, train_s = time.monotonic(), 0, 0, 0.0
        stop = None                        # 'budget' | 'early_stop' when the loop ends before total_steps
        while st.step < s.total_steps:
            reason, decision = None, GO
            if ctx.leader and should_stop is not None and (reason := should_stop()):
                decision = CANCEL
            elif ctx.leader and config.budget and st.elapsed_s + time.monotonic() - t_start >= config.budget:
                decision = BUDGET
            decision = dist.agree(decision, ctx, s.device)
            if decision == CANCEL:
                if checkpoint_dir is not None and ctx.leader:
                    checkpoints.save_checkpoint(s, st, checkpoint_dir, elapsed_s=time.monotonic() - t_start)
                emit(Progress("milestone", st.step, s.total_steps, st.step / s.steps_per_epoch,
                              message=f"cancelled: {reason}"))
                result.status, result.reason = "cancelled", str(reason or "cancelled by rank 0")
                return result
            if decision == BUDGET:
                stop = "budget"
                break
            epoch, pos = divmod(st.step, s.steps_per_epoch)
            if order_epoch != epoch:
                order, order_epoch = s.batches.order(config.batch_size, config.seed, epoch, config.group_by_length), epoch
            mine = dist.shard(order[pos], ctx)             # every copy has the same order; each takes its share
            t_step = time.perf_counter()
            model.train()
            s.optimizer.zero_grad(set_to_none=True)

            loss = loss_new = loss_pre = None
            if mine:
                batch = s.batches.collate(mine, s.device)
                with s.autocast():
                    out = model(batch["input_ids"], batch["attention_mask"], batch.get("features"))  # forward
                    loss_new = task_loss(out.logits, batch["labels"], config.label_smoothing)
                    loss_pre = s.pre(model, batch, out) if config.loss_alpha > 0 else None     # α = 0: skip L_pre
                    loss = mix(loss_new, loss_pre, config.loss_alpha)                             # mix losses
                    penalty = penalties(s.params, config.l1, config.l2)
                    if penalty is not None:
                        loss = loss + penalty
            seen = _step_losses(loss, loss_new, loss_pre, len(mine), len(order[pos]), ctx, s.device)
            if not math.isfinite(seen["loss"]):
                raise TrainingError(f"the loss became {seen['loss']} at step {st.step + 1}; lower lr "
                                    f"(now {config.lr:g}) or alpha")
            if loss is not None:
                (loss * dist.share(len(mine), len(order[pos]), ctx)).backward()                   # backward
            dist.average_gradients(s.params, ctx)
            if config.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(s.params, config.max_grad_norm)                    # clip
            s.optimizer.step()                                                                    # optimizer step
            s.scheduler.step()                                                                    # scheduler step

            st.step += 1                                                                          # log
            steps_here += 1
            examples_here += len(order[pos])
            train_s += time.perf_counter() - t_step
            record = {"kind": "step", "step": st.step, "epoch": round(st.step / s.steps_per_epoch, 4),
                      "loss": seen["loss"], "loss_new": seen["loss_new"],
                      "loss_pre": seen["loss_pre"] if config.loss_alpha > 0 else None,
                      "lr": s.scheduler.get_last_lr()[0]}
            if st.step % s.history_every == 0 or st.step in (1, s.total_steps):
                st.history.append(record)
            now = time.monotonic()
            if now - last_emit >= PROGRESS_EVERY_S or st.step == s.total_steps:
                last_emit = now
                eta = (now - t_loop) / steps_here * (s.total_steps - st.step)
                emit(Progress("step", st.step, s.total_steps, record["epoch"], record["loss"], record["loss_new"],
                              record["loss_pre"], record["lr"], eta, examples_here / max(train_s, 1e-9)))

            if st.step in s.eval_steps:
                # every copy evaluates the same weights (so each keeps the same best state); rank 0's call wins
                early = evaluate_and_track(s, st, config) == "early_stop"
                if dist.agree(int(early), ctx, s.device):
                    stop = "early_stop"
                emit(Progress("eval", st.step, s.total_steps, st.step / s.steps_per_epoch,
                              metrics=st.history[-1]["metrics"], message=st.history[-1]["message"]))
                # not after the last evaluation: the artifact is written right after it and the checkpoint then
                # deleted, so it would guard only that write, at the cost of writing every trainable weight, its
                # best copy and the optimizer state (full fine-tune of MiniLM: ~360 MB, 0.6 s of a 50-s run)
                last = bool(stop) or st.step >= s.total_steps
                if checkpoint_dir is not None and ctx.leader and (keep_checkpoints or not last):
                    checkpoints.save_checkpoint(s, st, checkpoint_dir, elapsed_s=time.monotonic() - t_start)
                if stop:
                    break

        if stop == "budget" and st.step == 0:
            # nothing trained: an artifact now would be the untouched model, reported as a success and deployable
            result.status, result.reason = "failed", "budget"
            result.error = (f"the time budget of {config.budget:g}s was spent before the first training step "
                            f"(setup took {time.monotonic() - t_start:.1f}s); raise budget")
            return result
        if st.last_eval_step != st.step or st.best_state is None:   # budget stop between evaluations
            evaluate_and_track(s, st, config)
        if stop:
            message = (f"time budget of {config.budget:.0f}s reached; keeping the best weights" if stop == "budget"
                       else f"early stop: no {config.metric} improvement in {config.patience} evaluations")
            emit(Progress("milestone", st.step, s.total_steps, st.step / s.steps_per_epoch, message=message))
        restore_best(s, st)
        if ctx.leader:
            result.artifact_dir = str(write_candidate(s, st, config, data, out_dir))
        if checkpoint_dir is not None and not keep_checkpoints and ctx.leader:
            checkpoints.remove_checkpoint(checkpoint_dir)
        result.status, result.reason, result.stopped_early = "succeeded", stop, stop == "early_stop"
        result.metrics, result.history, result.best_step, result.steps = st.best_metrics, st.history, st.best_step, st.step
        result.train_examples_per_s = examples_here / max(train_s, 1e-9)
        emit(Progress("milestone", st.step, s.total_steps, st.step / s.steps_per_epoch, metrics=st.best_metrics,
                      message=f"finished: best {config.metric} {st.best_value:.4f} at step {st.best_step}"))
        return result
    except torch.OutOfMemoryError:
        result.status, result.error = "failed", (f"out of memory at batch_size={config.batch_size}, "
                                                 f"max_length={config.max_length}: lower batch_size or max_length")
        return result
    except FtbotError as err:
        result.status, result.error = "failed", str(err)
        return result
    except Exception as err:   # noqa: BLE001 — the result object, not an exception, is the contract
        log.exception("training failed")
        result.status, result.error = "failed", f"training failed: {type(err).__name__}: {err}"
        return result
    finally:
        result.wall_s = time.monotonic() - t_start
        torch.set_num_threads(threads_before)
        dist.close(group)
        if s is not None and result.status != "succeeded":
            del s
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


def _contrastive_note(stage: dict | None, resumed: bool) -> str:
    if not stage or resumed:            # a resumed run's weights come from the checkpoint
        return ""
    if not stage.get("ran"):
        return f"; no contrastive pre-stage ({stage.get('why')})"
    return (f"; contrastive pre-stage: {stage['steps']} steps over {stage['pairs']:,} same-label pairs, loss "
            f"{stage['loss_first']:.3f} → {stage['loss_last']:.3f} in {stage['seconds']:.0f} s")


def _probe_note(probe: dict | None, resumed: bool, stage: dict | None = None) -> str:
    if not probe or resumed:            # a resumed run's head comes from the checkpoint, not from the probe
        return ""
    if not probe.get("fitted"):
        return f"; head starts at random ({probe.get('why')})"
    what = "the pre-stage's embeddings" if (stage or {}).get("ran") else "the pretrained embeddings"
    return (f"; head starts from a linear probe on {what} "
            f"(training accuracy {probe['train_accuracy']:.3f} on {probe['examples']:,} examples)")


def _step_losses(loss, loss_new, loss_pre, n_local: int, n_total: int, ctx, device) -> dict:
    """This step's losses over the whole batch: each copy's mean weighted by its share (one copy: as they are)."""
    if not ctx.active:
        return {k: None if t is None else t.item() for k, t in (("loss", loss), ("loss_new", loss_new),
                                                                  ("loss_pre", loss_pre))}
    vals = [0.0 if t is None else float(t.detach()) * n_local for t in (loss, loss_new, loss_pre)]
    tot = dist.reduce_sum(vals, ctx, device)
    return {k: v / max(n_total, 1) for k, v in zip(("loss", "loss_new", "loss_pre"), tot)}


__all__ = ["plan", "train", "Plan", "Progress", "TrainResult", "PROGRESS_EVERY_S"]
