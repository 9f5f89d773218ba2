"""One copy of a 2-process training for tests/engine/test_distributed.py (started by torchrun).

    python -m torch.distributed.run --standalone --nproc-per-node 2 -m tests.engine.ddp_entry BASE OUT OPTIONS_JSON
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from engine.train import train
from tests.engine.train_helpers import config, dataset


def main() -> None:
    base, out, options = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
    rank = int(os.environ["RANK"])
    res = train(config(base, **options), dataset(), out / f"artifact-{rank}", checkpoint_dir=out / "ckpt")
    losses = [h["loss"] for h in res.history if h["kind"] == "step"]
    (out / f"result-{rank}.json").write_text(json.dumps({"status": res.status, "error": res.error, "steps": res.steps,
                                                         "losses": losses, "artifact_dir": res.artifact_dir,
                                                         "world": os.environ.get("WORLD_SIZE")}))


if __name__ == "__main__":
    main()
