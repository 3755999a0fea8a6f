"""The engine of VMASK (Chen and Ji, "Learning Variational Word Masks to Improve
the Interpretability of Neural Text Classifiers", EMNLP 2020): the mask network,
word units read from token ids, the relaxed Bernoulli samples, the information
loss and the annealing of its weight.

The face is :class:`~captum_nlp_ext.attr.VMaskClassifier` (the layer inside a
classifier, its training, saving and loading) and
:class:`~captum_nlp_ext.attr.VMask` (the attribution).
"""

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.units import Units
from captum_nlp_ext._utils.validation import check_int

# Token strings that start a word in SentencePiece and byte-level BPE
# vocabularies; WordPiece marks the opposite (pieces that continue a word).
_WORD_START_MARKERS = ("\u2581", "\u0120")
_CONTINUATION_MARKER = "##"


class WordMaskNet(Module):
    """The mask network: a keep logit per token from its embedding,
    ``w2 . tanh(W1 e + b1) + b2`` (the paper's one-hidden-layer network; its
    two-way softmax over keep / drop is a sigmoid of one logit)."""

    def __init__(self, embedding_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden = torch.nn.Linear(embedding_size, hidden_size)
        self.out = torch.nn.Linear(hidden_size, 1)

    def forward(self, embeddings: Tensor) -> Tensor:
        return self.out(torch.tanh(self.hidden(embeddings))).squeeze(-1)


def continuation_table(tokenizer: Any, vocab_size: int) -> Tensor:
    """(vocab_size,) bool: True for the token ids that continue a word.

    WordPiece's ``##`` pieces continue a word; in vocabularies whose tokens
    mark word starts (SentencePiece's ``\u2581``, byte-level BPE's ``\u0120``)
    every unmarked token does. A tokenizer with neither makes every token a
    word. Why not ``word_feature_mask``: the classifier's forward sees token
    ids only, never the tokenizer's encoding.
    """
    table = torch.zeros(vocab_size, dtype=torch.bool)
    vocab = tokenizer.get_vocab()
    tokens = [t for t, i in vocab.items() if 0 <= i < vocab_size]
    marked = [m for m in _WORD_START_MARKERS if any(t.startswith(m) for t in tokens)]
    for token in tokens:
        if token.startswith(_CONTINUATION_MARKER) and len(token) > 2:
            table[vocab[token]] = True
        elif marked and not token.startswith(tuple(marked)):
            table[vocab[token]] = True
    special = [i for i in tokenizer.all_special_ids if 0 <= i < vocab_size]
    table[special] = False
    return table


def word_units(
    input_ids: Tensor,
    continuation: Optional[Tensor],
    special: Tensor,
    attention_mask: Optional[Tensor] = None,
) -> Units:
    """The words of token ids: a word starts at a token that does not continue
    one (or follows a special token); special tokens and padding belong to no
    word (unit -1). Without a continuation table every token is a word."""
    ids = input_ids.long()
    excluded = special.to(ids.device)[ids]
    if attention_mask is not None:
        excluded = excluded | (attention_mask.to(ids.device) == 0)
    if continuation is None:
        starts = ~excluded
    else:
        continues = continuation.to(ids.device)[ids]
        after_excluded = F.pad(excluded[:, :-1], (1, 0), value=True)
        starts = ~excluded & (~continues | after_excluded)
    index = starts.long().cumsum(dim=1) - 1
    index = torch.where(excluded, torch.full_like(index, -1), index)
    count = (index.amax(dim=1) + 1).clamp_min(0)
    return Units(index, count)


def relaxed_bernoulli(
    logits: Tensor, temperature: float, generator: Optional[torch.Generator] = None
) -> Tensor:
    """Hard 0/1 samples of Bernoulli(sigmoid(logits)) whose gradient is that of
    the Gumbel-softmax relaxation (the straight-through estimator, as the
    authors' code: two-way Gumbel-softmax with ``hard=True``)."""
    uniform = torch.rand(
        logits.shape, generator=generator, device=logits.device, dtype=logits.dtype
    )
    tiny = torch.finfo(logits.dtype).tiny
    noise = torch.log(uniform + tiny) - torch.log1p(-uniform + tiny)
    soft = torch.sigmoid((logits + noise) / temperature)
    hard = (soft > 0.5).to(soft.dtype)
    return hard + soft - soft.detach()


def information_loss(logits: Tensor, valid: Tensor, prior: float = 0.5) -> Tensor:
    r"""The information-bottleneck term: the mean over the batch's words of
    :math:`KL(\mathrm{Bern}(p_i) \| \mathrm{Bern}(\pi))`, :math:`p_i` the keep
    probability, :math:`\pi` the prior's."""
    log_keep, log_drop = F.logsigmoid(logits), F.logsigmoid(-logits)
    keep = log_keep.exp()
    kl = keep * (log_keep - torch.log(torch.tensor(prior))) + (1 - keep) * (
        log_drop - torch.log(torch.tensor(1 - prior))
    )
    words = valid.sum().clamp_min(1)
    return (kl * valid).sum() / words


@dataclass(frozen=True)
class BetaSchedule:
    """The weight of the information loss per epoch: ``start`` in the first,
    ``step`` less after every ``every`` epochs, never below ``floor`` (the
    authors' code: 1, then 0.099 less each epoch down to 0.01, each tenth
    epoch for their CNN and LSTM; their test ``beta > 0.01`` lets rounding
    take beta one step below 0, which the floor prevents).

    Attributes:
        start (float): beta in the first epoch. Default: 1.0
        step (float): How much beta falls at a step. Default: 0.099
        floor (float): The lowest beta. Default: 0.01
        every (int): Epochs between two steps (the authors' CNN and LSTM: 10).
                    Default: 1
    """

    start: float = 1.0
    step: float = 0.099
    floor: float = 0.01
    every: int = 1

    def __post_init__(self) -> None:
        check_int("every", self.every, 1)

    def __call__(self, epoch: int) -> float:
        steps = epoch // self.every
        return max(min(self.floor, self.start), self.start - steps * self.step)


def lr_scheduler(optimizer: Any, kind: str, batches: Any, epochs: int) -> Any:
    if kind == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if not hasattr(batches, "__len__"):
        raise ValueError("`lr_schedule='linear'` needs `batches` with a length.")
    total = max(1, epochs * len(batches))
    warmup = max(1.0, 0.06 * total)

    def factor(step: int) -> float:
        return min(1.0, (step + 1) / warmup) * max(0.0, (total - step) / total)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def check_batch(
    batch: Any, device: torch.device
) -> Tuple[Tensor, Tensor, Tensor, Dict[str, Any]]:
    if not isinstance(batch, Mapping):
        raise TypeError(
            "each of `batches` must be a dict with `input_ids`, `attention_mask` "
            f"and `labels`; got {type(batch).__name__}."
        )
    missing = [k for k in ("input_ids", "attention_mask", "labels") if k not in batch]
    if missing:
        raise ValueError(f"a batch of `batches` lacks {missing}.")
    ids, mask, labels = (batch[k] for k in ("input_ids", "attention_mask", "labels"))
    labels = torch.as_tensor(labels)
    if labels.dim() != 1 or labels.shape[0] != ids.shape[0]:
        raise ValueError(
            f"a batch's `labels` must have shape ({ids.shape[0]},); got "
            f"{tuple(labels.shape)}."
        )
    extra = {
        k: v.to(device) if isinstance(v, Tensor) else v
        for k, v in batch.items()
        if k not in ("input_ids", "attention_mask", "labels")
    }
    return ids.to(device), mask.to(device), labels.to(device).long(), extra


class MaskHook:
    """Registers a ``VMaskClassifier``'s mask on its layer for one forward
    pass; removed on exit, on every path. Registered last, so that a method's
    own hook on the same layer (Captum's, ours) changes the embeddings before
    they are masked."""

    def __init__(
        self, owner: Any, input_ids: Optional[Tensor], attention_mask: Any
    ) -> None:
        self.owner, self.ids, self.attention = owner, input_ids, attention_mask
        self.handle: Any = None

    def __enter__(self) -> None:
        self.handle = self.owner.layer.register_forward_hook(self._hook)

    def __exit__(self, *exc: Any) -> None:
        self.handle.remove()

    def _hook(self, module: Module, args: Any, output: Any) -> Any:
        if not isinstance(output, Tensor):
            return None
        owner = self.owner
        ids = (
            self.ids
            if self.ids is not None and self.ids.shape == output.shape[:2]
            else None
        )
        logits, units = owner._word_logits(output, ids, self.attention)
        if units.max_units == 0:  # only special tokens and padding: nothing to mask
            return None
        if owner.training:
            owner._recorded = (logits, units)
            keep = relaxed_bernoulli(logits, owner._temperature, owner._generator)
        else:
            keep = torch.sigmoid(logits)
        tokens = units.to_tokens(keep)
        tokens = torch.where(units.included, tokens, torch.ones_like(tokens))
        return output * tokens.unsqueeze(-1).to(output.dtype)
