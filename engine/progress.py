"""What training reports while it runs (Progress) and when it ends (TrainResult), and the plan shown before launch."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Progress:
    kind: str                           # step | eval | milestone
    step: int
    total_steps: int
    epoch: float
    loss: float | None = None           # the mixed loss (plus penalties)
    loss_new: float | None = None       # task cross-entropy
    loss_pre: float | None = None       # L_pre; None when α = 0 (not computed)
    lr: float | None = None
    eta_s: float | None = None
    examples_per_s: float | None = None
    metrics: dict | None = None         # eval: accuracy, macro_f1, (roc_auc), loss
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    status: str                         # succeeded | failed | cancelled
    reason: str | None = None           # cancel reason; 'budget' / 'early_stop' when training ended before its end
    error: str | None = None            # user-facing message when failed
    artifact_dir: str | None = None
    metrics: dict = field(default_factory=dict)      # best validation metrics
    history: list[dict] = field(default_factory=list)
    trainable_params: int = 0
    total_params: int = 0
    pre_loss: str | None = None
    wall_s: float = 0.0
    train_examples_per_s: float = 0.0
    steps: int = 0
    best_step: int | None = None
    stopped_early: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Plan:
    trainable_params: int
    total_params: int
    frozen: str
    pre_loss: str
    lora_targets: list[str]
    estimated_seconds: float
    total_steps: int = 0
    device: str = "cpu"
    family: str = ""
    features: str | None = None     # tabular column features the head reads, described; None when it reads text only
    gpus: int = 1

    def summary(self) -> str:
        share = 100.0 * self.trainable_params / max(self.total_params, 1)
        return (f"{self.trainable_params / 1e6:.2f}M of {self.total_params / 1e6:.1f}M parameters train ({share:.1f}%); "
                f"frozen: {self.frozen}; L_pre: {self.pre_loss}; {self.total_steps} steps, "
                f"about {self.estimated_seconds:.0f}s on {self.device}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
