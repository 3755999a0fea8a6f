"""The training loop of :meth:`VMaskClassifier.fit`: resumable from a
checkpoint file, with a hook after each epoch.

A fit that takes hours (the authors' CNN and LSTM: up to 100 epochs) must
survive being killed: after every epoch the weights, the optimizer's and the
schedule's state, the random state and the history are written (atomically)
to the checkpoint, and a fit started again with the same settings continues
from there, drawing what the uninterrupted fit would have drawn.
"""

import dataclasses
import logging
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch.nn import Module

from captum_nlp_ext._utils.files import atomic_path
from captum_nlp_ext._utils.settings import describe_differences, settings_differences
from captum_nlp_ext._utils.types import PathLike
from captum_nlp_ext._utils.validation import check_choice, check_float
from captum_nlp_ext.attr._utils.training import progress
from captum_nlp_ext.attr._utils.vmask import (
    BetaSchedule,
    check_batch,
    information_loss,
    lr_scheduler,
)

logger = logging.getLogger("captum_nlp_ext")

_FORMAT = "captum-nlp-ext/vmask-fit/1"
#: Called after each epoch with its record; True stops the fit there.
EpochHook = Callable[[Dict[str, float]], Any]


@dataclasses.dataclass(frozen=True, kw_only=True)
class VMaskFitSettings:
    r"""How :meth:`VMaskClassifier.fit <captum_nlp_ext.attr.VMaskClassifier.fit>`
    trains (Chen and Ji, EMNLP 2020): the optimizer, the information term and
    the mask's relaxation. Every value is checked when the object is made;
    :func:`dataclasses.replace` gives a changed copy.

    The defaults suit a pretrained, fine-tuned classifier (the authors' BERT
    variant). A CNN or LSTM trained from scratch with the mask takes the
    authors' ``lr=mask_lr=1e-3`` (LSTM) or ``1e-2`` (CNN), ``weight_decay=0``,
    ``max_grad_norm=None`` and ``beta=BetaSchedule(every=10)``.

    Attributes:
        lr (float): The classifier's learning rate (AdamW); the default suits
                    fine-tuning a pretrained classifier (BERT's usual rate); a
                    classifier trained from scratch needs about 1e-3, else it
                    stays at chance and its masks at the prior (a warning says
                    so). Default: 2e-5
        mask_lr (float): The mask network's learning rate (it starts from
                    random weights, so it learns faster than the pretrained
                    classifier). Default: 1e-3
        beta (float or BetaSchedule): The information term's weight: a
                    constant, or per epoch. Default: BetaSchedule() (1.0,
                    0.099 less each epoch, down to 0.01)
        prior (float): The prior keep probability :math:`\pi`, in (0, 1).
                    Default: 0.5
        temperature (float): The Gumbel-softmax temperature. Default: 1.0
        weight_decay (float): AdamW's weight decay. Default: 0.01
        max_grad_norm (float, optional): Gradient clipping; None for none.
                    Default: 1.0
        lr_schedule (str): ``"constant"``, or ``"linear"``: a warm-up over the
                    first 6% of the steps, then a linear decay to 0 (the usual
                    BERT fine-tuning schedule; needs ``len(batches)``).
                    Default: "constant"
    """

    lr: float = 2e-5
    mask_lr: float = 1e-3
    beta: Union[float, BetaSchedule] = BetaSchedule()
    prior: float = 0.5
    temperature: float = 1.0
    weight_decay: float = 0.01
    max_grad_norm: Optional[float] = 1.0
    lr_schedule: str = "constant"

    def __post_init__(self) -> None:
        for name in ("lr", "mask_lr"):
            check_float(name, getattr(self, name), 0.0)
        check_float("prior", self.prior, 0.0, 1.0, high_inclusive=False)
        check_float("temperature", self.temperature, 0.0)
        check_float("weight_decay", self.weight_decay, 0.0, low_inclusive=True)
        if self.max_grad_norm is not None:
            check_float("max_grad_norm", self.max_grad_norm, 0.0)
        check_choice("lr_schedule", self.lr_schedule, ("constant", "linear"))
        if not isinstance(self.beta, BetaSchedule):
            check_float("beta", self.beta, 0.0, low_inclusive=True)

    @property
    def schedule(self) -> BetaSchedule:
        """``beta`` as a schedule (a constant is one that never falls)."""
        if isinstance(self.beta, BetaSchedule):
            return self.beta
        value = float(self.beta)
        return BetaSchedule(start=value, step=0.0, floor=value)


def _identity(settings: VMaskFitSettings, epochs: int, seed: int) -> Dict[str, Any]:
    """What makes two fits the same fit (a checkpoint is continued only by
    its own); the number of epochs may grow under a constant schedule."""
    values = dataclasses.asdict(settings)
    values["beta"] = dataclasses.asdict(settings.schedule)
    values["seed"] = seed
    if settings.lr_schedule == "linear":
        values["epochs"] = epochs
    return values


@dataclasses.dataclass
class FitResult:
    """The history of every epoch (those of earlier runs of a resumed fit
    included) and the spread of the last batch's keep probabilities around
    the prior (None when this run trained no epoch)."""

    history: List[Dict[str, float]]
    spread: Optional[float]


def _load(path: Path, identity: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file: name it
        raise ValueError(
            f"`checkpoint` {path} cannot be read ({type(error).__name__}): delete "
            "it or give another path."
        ) from error
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        raise ValueError(
            f"`checkpoint` {path} is not a VMASK fit checkpoint: delete it or "
            "give another path."
        )
    stored, current = state["settings"], identity
    differ = settings_differences(stored, current)
    if differ:
        raise ValueError(
            f"`checkpoint` {path} belongs to a fit with other settings ("
            f"{describe_differences(stored, current, differ)}): continuing it "
            "would mix two fits. Fit with its settings, or give another path."
        )
    return state


def run_fit(
    wrapper: Any,
    batches: Any,
    epochs: int,
    settings: VMaskFitSettings,
    seed: int,
    checkpoint: Optional[PathLike] = None,
    on_epoch_end: Optional[EpochHook] = None,
    show_progress: bool = False,
) -> FitResult:
    """Train ``wrapper`` (a :class:`VMaskClassifier`) and its mask network
    for ``epochs`` epochs, or until ``on_epoch_end`` returns True.

    ``on_epoch_end`` runs with the wrapper in eval mode (its predictions use
    the expected masks, as after the fit), inside the fit's random state.
    """
    model: Module = wrapper.model
    optimizer = torch.optim.AdamW(
        [
            {"params": list(model.parameters()), "lr": settings.lr},
            {"params": list(wrapper.mask.parameters()), "lr": settings.mask_lr},
        ],
        weight_decay=settings.weight_decay,
    )
    scheduler = lr_scheduler(optimizer, settings.lr_schedule, batches, epochs)
    identity = _identity(settings, epochs, seed)
    path = None if checkpoint is None else Path(checkpoint)
    state = None if path is None else _load(path, identity)
    history: List[Dict[str, float]] = []
    stopped = False
    device = wrapper.special.device
    if state is not None:
        wrapper.load_state_dict(state["weights"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, stopped = list(state["history"]), bool(state["stopped"])
    flags = [(module, module.training) for module in wrapper.modules()]
    spread: Optional[float] = None
    devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            generator = torch.Generator(device).manual_seed(seed)
            if state is not None:
                _set_rng(state, generator, device)
            wrapper._generator = generator
            wrapper._temperature = settings.temperature
            for epoch in range(len(history), epochs):
                if stopped:
                    break
                wrapper.train()
                record, spread = _epoch(
                    wrapper, optimizer, scheduler, batches, (epoch, epochs),
                    settings, show_progress,
                )  # fmt: skip
                history.append(record)
                logger.info("VMASK epoch %d: %s", epoch, record)
                wrapper.eval()
                stopped = bool(on_epoch_end(dict(record))) if on_epoch_end else False
                if path is not None:
                    _save(
                        path, wrapper, (optimizer, scheduler), identity, history,
                        stopped, generator,
                    )  # fmt: skip
    finally:
        wrapper._generator, wrapper._recorded = None, None
        for module, flag in flags:
            module.training = flag
    return FitResult(history, spread)


def _epoch(
    wrapper: Any,
    optimizer: Any,
    scheduler: Any,
    batches: Any,
    epoch_of: Tuple[int, int],
    settings: VMaskFitSettings,
    show_progress: bool,
) -> Tuple[Dict[str, float], float]:
    epoch, epochs = epoch_of
    weight = settings.schedule(epoch)
    totals = torch.zeros(3, dtype=torch.float64)
    steps, spread = 0, 0.0
    device = wrapper.special.device
    desc = f"VMASK epoch {epoch + 1}/{epochs}"
    for batch in progress(batches, show_progress, desc):
        ids, mask, labels, extra = check_batch(batch, device)
        output = wrapper(ids, mask, **extra)
        logits = getattr(output, "logits", output)
        assert wrapper._recorded is not None
        word_logits, units = wrapper._recorded
        ce = F.cross_entropy(logits, labels)
        info = information_loss(word_logits, units.valid, settings.prior)
        loss = ce + weight * info
        optimizer.zero_grad()
        loss.backward()
        if settings.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(wrapper.parameters(), settings.max_grad_norm)
        optimizer.step()
        scheduler.step()
        keep = torch.sigmoid(word_logits.detach())[units.valid]
        # at the last step: how far the masks moved
        if keep.numel():
            spread = float((keep - settings.prior).abs().max())
        totals += torch.tensor([loss.item(), ce.item(), info.item()])
        steps += 1
    if steps == 0:
        raise ValueError("`batches` is empty.")
    mean = (totals / steps).tolist()
    record = dict(
        epoch=epoch,
        beta=weight,
        loss=mean[0],
        cross_entropy=mean[1],
        information=mean[2],
    )
    return record, spread


def _save(
    path: Path,
    wrapper: Any,
    optimization: Tuple[Any, Any],
    identity: Dict[str, Any],
    history: List[Dict[str, float]],
    stopped: bool,
    generator: torch.Generator,
) -> None:
    optimizer, scheduler = optimization
    state = {
        "format": _FORMAT,
        "settings": identity,
        "weights": wrapper.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "history": history,
        "stopped": stopped,
        "rng": torch.get_rng_state(),
        "generator": generator.get_state(),
    }
    if generator.device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(generator.device)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        torch.save(state, temporary)


def _set_rng(state: Dict[str, Any], generator: torch.Generator, device: Any) -> None:
    """The random state the fit had when its checkpoint was written."""
    torch.set_rng_state(state["rng"])
    generator.set_state(state["generator"])
    if "cuda_rng" in state:
        torch.cuda.set_rng_state(state["cuda_rng"], device)
