"""Turn what a model returns into the tensor Captum expects."""

from typing import Any

import torch
from torch import Tensor


def logits_to_probabilities(logits: Tensor) -> Tensor:
    """Class probabilities of classifier scores, one policy package-wide:
    softmax over the classes of (rows, classes) logits; the sigmoid of a
    single-logit classifier's (rows,) or (rows, 1) scores (same shape)."""
    if logits.dim() == 1 or logits.shape[-1] == 1:
        return torch.sigmoid(logits)
    return torch.softmax(logits, dim=-1)


def output_to_tensor(output: Any) -> Tensor:
    """Return the prediction tensor of a model output.

    Accepts a tensor, a Hugging Face ``ModelOutput`` (its ``logits``), or a tuple
    or list whose first element is the prediction tensor (``return_dict=False``).
    """
    if isinstance(output, Tensor):
        return output
    logits = getattr(output, "logits", None)
    if isinstance(logits, Tensor):
        return logits
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], Tensor):
        return output[0]
    raise TypeError(
        "`forward_func` must return a tensor of shape (batch,) or (batch, classes), "
        f"a Hugging Face ModelOutput with `logits`, or a tuple of tensors; got "
        f"{type(output).__name__}."
    )
