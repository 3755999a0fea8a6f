"""Turn what a model returns into the tensor Captum expects."""

from typing import Any

from torch import Tensor


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
