"""Where the twins run, and the precision settings that govern their float32 results.

The twins leave PyTorch's precision switches at their defaults; on a GPU those
defaults may route float32 products through TF32 (cuDNN's recurrent kernels
do, by default), which is why :func:`precision_settings` reports them next to
every set of results.
"""

from __future__ import annotations

import platform

import torch


def resolve_device(device: str | torch.device = "cpu") -> torch.device:
    """Turn ``"cpu"``, ``"cuda"`` or ``"cuda:K"`` into a usable :class:`torch.device`.

    Raises
    ------
    RuntimeError
        If a CUDA device is requested but ``torch.cuda.is_available()`` is False.
    ValueError
        If the device type is neither ``cpu`` nor ``cuda``.
    """
    resolved = torch.device(device)
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"CUDA requested but torch.cuda.is_available() is False (device {str(device)!r}, "
                f"torch {torch.__version__}, built for CUDA {torch.version.cuda}); run the twins with device='cpu'"
            )
        return resolved
    if resolved.type != "cpu":
        raise ValueError(f"unsupported twin device {str(device)!r}; expected 'cpu', 'cuda' or 'cuda:K'")
    return resolved


def device_name(device: str | torch.device = "cpu") -> str:
    """A human-readable name of ``device``: the GPU model, or the CPU's architecture."""
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        return torch.cuda.get_device_name(resolved)
    return f"cpu ({platform.processor() or platform.machine() or 'unknown'})"


def precision_settings(device: str | torch.device = "cpu") -> dict[str, object]:
    """The settings that decide how exactly a twin computes in float32.

    Parameters
    ----------
    device
        The device whose name to report (``"cpu"`` by default).

    Returns
    -------
    dict
        ``torch_version``, ``device``, ``cuda_available``,
        ``cuda_matmul_allow_tf32`` (``torch.backends.cuda.matmul.allow_tf32``),
        ``cudnn_allow_tf32`` (``torch.backends.cudnn.allow_tf32``),
        ``float32_matmul_precision`` (``torch.get_float32_matmul_precision()``),
        ``cudnn_enabled``, ``cudnn_version`` (None without cuDNN) and, where
        this torch has them, the newer ``fp32_precision`` switches
        (``fp32_precision``, ``cuda_matmul_fp32_precision``,
        ``cudnn_fp32_precision``, ``cudnn_rnn_fp32_precision``).
    """
    settings: dict[str, object] = {
        "torch_version": torch.__version__,
        "device": device_name(device),
        "cuda_available": torch.cuda.is_available(),
        "cuda_matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cudnn_enabled": bool(torch.backends.cudnn.enabled),
        "cudnn_version": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }
    optional = {
        "fp32_precision": (torch.backends, "fp32_precision"),
        "cuda_matmul_fp32_precision": (torch.backends.cuda.matmul, "fp32_precision"),
        "cudnn_fp32_precision": (torch.backends.cudnn, "fp32_precision"),
        "cudnn_rnn_fp32_precision": (getattr(torch.backends.cudnn, "rnn", None), "fp32_precision"),
    }
    for key, (owner, attribute) in optional.items():
        value = getattr(owner, attribute, None) if owner is not None else None
        if value is not None:
            settings[key] = value
    return settings
