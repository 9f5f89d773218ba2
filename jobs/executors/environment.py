"""The environment a training process gets: only what it needs to find Python, the model files, the hardware and
ftbot's own settings — never the Slack tokens or other secrets of the process that launches it. A training child
runs user-chosen code paths (model files, tokenizers) and writes logs; it has no business holding the bot's keys."""
from __future__ import annotations

import os
from typing import Mapping

# exact names and prefixes a child may inherit
KEEP = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP", "VIRTUAL_ENV",
        "LD_LIBRARY_PATH", "PYTHONPATH", "PYTHONHASHSEED", "TOKENIZERS_PARALLELISM", "NO_PROXY", "no_proxy"}
KEEP_PREFIXES = ("LC_", "FTBOT_", "HF_", "TRANSFORMERS_", "TORCH", "CUDA_", "NCCL_", "OMP_", "MKL_", "KMP_",
                 "OPENBLAS_", "PYTORCH_", "NVIDIA_", "XDG_")
# never, whatever the prefix: ftbot's own settings may name a secret too
SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "PRIVATE_KEY", "API_KEY", "CREDENTIAL")


def child_environment(parent: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """`parent` (default: this process's environment) reduced to what a training child needs, plus `extra`."""
    parent = os.environ if parent is None else parent
    out = {k: v for k, v in parent.items()
           if (k in KEEP or k.startswith(KEEP_PREFIXES)) and not any(w in k.upper() for w in SECRET_WORDS)}
    out.update(extra)
    return out
