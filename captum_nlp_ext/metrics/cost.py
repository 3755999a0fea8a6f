"""What an attribution costs: wall time, model passes and peak memory
(the cost diagnostic of Atanasova, Simonsen, Lioma and Augenstein, EMNLP 2020).

:class:`CostMeter` measures any block of code, e.g. one ``attribute`` call of
any method, Captum's included; :func:`attribution_cost` measures a method over
a dataset and reports each quantity per explained example.
"""

import ctypes
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import torch
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.deprecation import keyword_only_after
from captum_nlp_ext._utils.outputs import output_to_tensor
from captum_nlp_ext._utils.validation import check_int
from captum_nlp_ext.metrics._result import MetricResult, summarize

_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"


@dataclass(frozen=True)
class Cost:
    """The cost of one measured block.

    Attributes:
        seconds (float): Wall time (CUDA work synchronized on both ends).
        forward_calls (int): Calls of the model's ``forward``.
        forward_rows (int): Examples (rows of the output) through those calls;
                    forward passes per example = ``forward_rows / batch``.
        backward_calls (int): Backward passes that reached the model's output.
        backward_rows (int): Rows of the output those passes went through.
        peak_memory_bytes (int or None): Peak memory above the level at entry.
        memory_source (str): ``"cuda"`` (peak of ``torch.cuda`` allocations),
                    ``"rss"`` (the process's resident-set high-water mark,
                    Linux) or ``"unavailable"`` (then the peak is None).
        tokens (int): Token positions through the counted forward calls
                    (rows x columns of their ``input_ids`` or
                    ``inputs_embeds``).
        padding_tokens (int): Those the attention mask of the call masks out:
                    computed and thrown away. ``padding_tokens / tokens`` is the
                    padding waste.
    """

    seconds: float
    forward_calls: int
    forward_rows: int
    backward_calls: int
    backward_rows: int
    peak_memory_bytes: Optional[int]
    memory_source: str
    tokens: int = 0
    padding_tokens: int = 0

    @property
    def padding_share(self) -> float:
        """``padding_tokens / tokens`` (0 when no token was counted)."""
        return self.padding_tokens / self.tokens if self.tokens else 0.0


class CostMeter:
    r"""Context manager that measures the block it encloses.

    Model passes are counted with a forward hook on ``model``: each call counts
    once, with the rows of its output, and a backward pass counts when a
    gradient reaches that output. Memory is the peak above the level at entry:
    on CUDA, the peak of tensor allocations on the model's device; on CPU, the
    process's resident-set high-water mark (reset on entry through
    ``/proc/self/clear_refs``, Linux only), after freed heap pages are handed
    back to the system (glibc's ``malloc_trim``) so that memory the block
    reuses counts too. ``tracemalloc`` is not used: it does not see PyTorch's
    tensor storage. The RSS peak counts everything the process touches
    meanwhile, other threads included: compare it between methods.

    Example::

        >>> with CostMeter(model) as meter:
        ...     attributions = lig.attribute(ids, additional_forward_args=(mask,))
        >>> meter.cost.seconds, meter.cost.forward_rows / len(ids)

    Args:
        model (torch.nn.Module, optional): The model whose passes are counted.
                    Default: None (time and memory only)
        device (torch.device or str, optional): Where memory is measured.
                    Default: None (the model's device, else the CPU)
    """

    @keyword_only_after(2)
    def __init__(self, model: Optional[Module] = None, *, device: Any = None) -> None:
        if model is not None and not isinstance(model, Module):
            raise TypeError(
                f"`model` must be a torch module; got {type(model).__name__}."
            )
        self.model = model
        if device is None and model is not None:
            parameter = next(model.parameters(), None)
            device = parameter.device if parameter is not None else None
        self.device = (
            torch.device(device) if device is not None else torch.device("cpu")
        )
        self._cost: Optional[Cost] = None
        self._handle: Any = None

    @property
    def cost(self) -> Cost:
        if self._cost is None:
            raise RuntimeError("`cost` is known once the `with` block has ended.")
        return self._cost

    def __enter__(self) -> "CostMeter":
        self._counts = [0, 0, 0, 0, 0, 0]
        if self.model is not None:
            self._handle = self.model.register_forward_hook(
                self._count, with_kwargs=True
            )
        self._memory_source, self._memory_base = self._start_memory()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            seconds = time.perf_counter() - self._start
            peak = self._peak_memory()
        finally:
            if self._handle is not None:
                self._handle.remove()
                self._handle = None
        calls, rows, backward_calls, backward_rows, tokens, padding = self._counts
        self._cost = Cost(
            seconds,
            calls,
            rows,
            backward_calls,
            backward_rows,
            peak,
            self._memory_source,
            tokens,
            padding,
        )

    def _count(self, module: Module, args: Any, kwargs: Any, output: Any) -> None:
        self._count_tokens(args, kwargs)
        try:
            logits = output_to_tensor(output)
        except TypeError:
            self._counts[0] += 1
            return
        rows = logits.shape[0] if logits.dim() else 1
        self._counts[0] += 1
        self._counts[1] += rows
        if logits.requires_grad:

            def backward(grad: Tensor, rows: int = rows) -> None:
                self._counts[2] += 1
                self._counts[3] += rows

            logits.register_hook(backward)

    def _count_tokens(self, args: Any, kwargs: Any) -> None:
        inputs = kwargs.get("input_ids", kwargs.get("inputs_embeds"))
        if inputs is None and args:
            inputs = args[0]
        if not isinstance(inputs, Tensor) or inputs.dim() < 2:
            return
        tokens = inputs.shape[0] * inputs.shape[1]
        mask = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)
        attended = tokens
        if isinstance(mask, Tensor) and mask.shape == inputs.shape[:2]:
            attended = int((mask != 0).sum())
        self._counts[4] += tokens
        self._counts[5] += tokens - attended

    def _start_memory(self) -> "tuple[str, int]":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return "cuda", torch.cuda.memory_allocated(self.device)
        _release_free_heap()
        try:
            with open(_CLEAR_REFS, "w") as f:
                # "5" resets the peak resident set size to the current one.
                f.write("5")
            return "rss", _status_bytes("VmRSS")
        except (OSError, ValueError):
            return "unavailable", 0

    def _peak_memory(self) -> Optional[int]:
        if self._memory_source == "cuda":
            return torch.cuda.max_memory_allocated(self.device) - self._memory_base
        if self._memory_source == "rss":
            return max(_status_bytes("VmHWM") - self._memory_base, 0)
        return None


@keyword_only_after(2)
def attribution_cost(
    explain: Callable[[Tensor], Any],
    n_examples: int,
    *,
    model: Optional[Module] = None,
    batch_size: int = 1,
    warmup: bool = True,
    device: Any = None,
) -> Dict[str, MetricResult]:
    r"""The cost of explaining each of ``n_examples`` examples, measured with
    :class:`CostMeter` around one ``explain`` call per batch.

    Each example of a batch is charged the batch's total divided by its size
    (for the peak memory too, which does not add up across examples: measure
    with ``batch_size=1`` for per-example peaks).

    Args:
        explain (Callable): ``explain(rows) -> attributions`` explains the
                    examples whose indices are in the (batch,) long tensor
                    ``rows``, e.g. ``lambda rows: lig.attribute(ids[rows],
                    additional_forward_args=(mask[rows],))``.
        n_examples (int): Number of examples, explained in order.
        model (torch.nn.Module, optional): The model whose passes are counted.
                    Default: None
        batch_size (int): Examples per ``explain`` call. Default: 1
        warmup (bool): Run the first batch once, unmeasured, so one-time costs
                    (lazy initialization, caches) are not charged to it.
                    Default: True
        device (torch.device or str, optional): Where memory is measured.
                    Default: None (the model's device, else the CPU)

    Returns:
        A dict of MetricResults, each per example: ``"seconds"``,
        ``"forward_passes"``, ``"backward_passes"`` and ``"peak_memory_bytes"``
        (NaN when unavailable; ``details["memory_source"]`` says how it was
        measured).
    """
    check_int("n_examples", n_examples, 1)
    check_int("batch_size", batch_size, 1)
    if not callable(explain):
        raise TypeError("`explain` must be callable: explain(rows) -> attributions.")
    batches = torch.arange(n_examples).split(batch_size)
    if warmup:
        explain(batches[0])
    columns: Dict[str, List[float]] = {
        "seconds": [],
        "forward_passes": [],
        "backward_passes": [],
        "peak_memory_bytes": [],
    }
    source = "unavailable"
    for rows in batches:
        with CostMeter(model, device=device) as meter:
            explain(rows)
        cost, size = meter.cost, len(rows)
        source = cost.memory_source
        peak = (
            float("nan") if cost.peak_memory_bytes is None else cost.peak_memory_bytes
        )
        for name, total in (
            ("seconds", cost.seconds),
            ("forward_passes", cost.forward_rows),
            ("backward_passes", cost.backward_rows),
            ("peak_memory_bytes", peak),
        ):
            columns[name].extend([total / size] * size)
    return {
        name: summarize(
            name,
            torch.tensor(values, dtype=torch.float64),
            batch_size=batch_size,
            memory_source=source,
        )
        for name, values in columns.items()
    }


def _release_free_heap() -> None:
    """Return freed heap pages to the system where the C library can (glibc),
    so that reusing them during the block raises the resident set again."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _status_bytes(field: str) -> int:
    with open(_STATUS) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise ValueError(f"{field} not in {_STATUS}")
