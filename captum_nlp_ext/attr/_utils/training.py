"""What models trained to explain (VMASK) and probes fitted over a data set
(DiffMask) share: their batches, their progress bar, the modules they name."""

from typing import Any, Iterable

from torch.nn import Module


def check_batches(batches: Any, epochs: int) -> Iterable[Any]:
    """Training batches: an iterable, re-iterable when there is more than one
    epoch."""
    if isinstance(batches, (str, bytes)) or not hasattr(batches, "__iter__"):
        raise TypeError(
            "`batches` must be an iterable of dicts with `input_ids`, "
            f"`attention_mask` and `labels`; got {type(batches).__name__}."
        )
    if epochs > 1 and iter(batches) is batches:
        raise ValueError(
            "`batches` is a one-pass iterator, but `epochs` > 1: pass a list or a "
            "DataLoader, which can be read once an epoch."
        )
    return batches


def progress(batches: Any, show: bool, desc: str) -> Any:
    """``batches``, behind a tqdm bar on stderr when ``show``."""
    if not show:
        return batches
    from tqdm.auto import tqdm

    return tqdm(batches, desc=desc, leave=False)


def module_name(model: Module, module: Module, argument: str) -> str:
    """The path of ``module`` in ``model`` (saved files name modules by it)."""
    for name, candidate in model.named_modules():
        if candidate is module:
            return name
    raise ValueError(f"`{argument}` must be a module of `model`.")
