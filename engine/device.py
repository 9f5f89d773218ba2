"""Where models run and in which precision: the device a run asks for, and bf16 autocast where the hardware does
bf16 natively (CUDA with bf16, CPUs with AVX512-BF16 or AMX); elsewhere bf16 is emulated and slower than fp32."""
from __future__ import annotations

import contextlib
from typing import Callable

import torch

from engine.config import TrainConfig
from engine.errors import ConfigError


def resolve_device(config: TrainConfig) -> torch.device:
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "cuda", "no CUDA GPU is visible here; use device=auto or device=cpu")
    return torch.device("cuda" if config.device in ("cuda", "auto") and torch.cuda.is_available() else "cpu")


def bf16_native(device: torch.device) -> bool:
    """Does this device do bf16 matmuls in hardware?"""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    cpu = getattr(torch, "cpu", None)
    return bool(getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
                or getattr(cpu, "_is_amx_tile_supported", lambda: False)())


def forward_autocast(precision: str | None, device: torch.device) -> Callable:
    """Autocast for forward-only passes whose output need not be exact — the probe's starting point, the forgetting
    summary, the embedding partner — never for the evaluation that reports: bf16 where the device does it natively,
    unless `precision=fp32`."""
    if precision == "fp32" or not bf16_native(device):
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def training_autocast(config: TrainConfig, device: torch.device) -> Callable:
    """Training's forward and backward: bf16 autocast (the weights and the optimizer stay fp32) where the device does
    bf16 natively, or when asked for."""
    bf16 = config.precision == "bf16" or (config.precision == "auto" and bf16_native(device))
    if not bf16:
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)
