"""Word removal: the one place where "remove these words" is defined.

Every faithfulness metric removes words, and the choice of how changes its
value (Hooker et al. 2019; Pham et al. 2022), so every result names its mode:

- ``"delete"``: the words' tokens are taken out and the remaining tokens are
  packed to the left, keeping their order; the freed positions at the end hold
  the fill id (the tokenizer's [PAD], else 0). Every tensor of shape
  (batch, tokens) in ``additional_forward_args`` (attention mask, token type
  ids) is moved with its tokens, and its freed positions are 0 (no attention,
  segment 0). Other arguments are passed unchanged.
- ``"mask"``, ``"pad"``, ``"unk"``: the words' tokens are replaced by the
  [MASK], [PAD] or [UNK] id; positions and ``additional_forward_args`` stay as
  they are.

Excluded tokens (negative ``feature_mask``: [CLS], [SEP], padding) are never
removed.
"""

from typing import Any, Callable, Optional, Tuple, Union

import torch
from torch import Tensor

from captum_nlp_ext._utils.batching import evaluate_rows
from captum_nlp_ext._utils.deprecation import keyword_only_after
from captum_nlp_ext._utils.validation import check_choice, check_int

REMOVAL_MODES = ("delete", "mask", "pad", "unk")
_TOKENIZER_ATTRIBUTES = {
    "delete": "pad_token_id",
    "mask": "mask_token_id",
    "pad": "pad_token_id",
    "unk": "unk_token_id",
}


class Removal:
    """How words are removed from token ids.

    Args:
        mode (str): ``"delete"``, ``"mask"``, ``"pad"`` or ``"unk"`` (see the
                    module docstring).
                    Default: "delete"
        token_id (int, optional): The replacement id of ``"mask"``, ``"pad"`` and
                    ``"unk"``; for ``"delete"``, the id that fills the freed
                    positions at the end.
                    Default: None (taken from ``tokenizer``; for ``"delete"``
                    without a tokenizer, 0)
        tokenizer (PreTrainedTokenizerBase, optional): Supplies the id when
                    ``token_id`` is None: its ``mask_token_id``, ``pad_token_id``
                    or ``unk_token_id``.
                    Default: None

    Examples::

        >>> Removal("mask", tokenizer=tokenizer)   # [MASK] = 103 for BERT
        >>> Removal("unk", token_id=100)
        >>> Removal()                             # deletion
    """

    @keyword_only_after(2)
    def __init__(
        self,
        mode: str = "delete",
        *,
        token_id: Optional[int] = None,
        tokenizer: Any = None,
    ) -> None:
        self.mode = check_choice("mode", mode, REMOVAL_MODES)
        if token_id is None and tokenizer is not None:
            attribute = _TOKENIZER_ATTRIBUTES[mode]
            token_id = getattr(tokenizer, attribute, None)
            if token_id is None:
                raise ValueError(
                    f"`tokenizer` has no {attribute}, needed by removal mode "
                    f"{mode!r}: pass `token_id`."
                )
        if token_id is None:
            if mode != "delete":
                raise ValueError(
                    f"Removal mode {mode!r} needs the id of its token: pass "
                    f"Removal({mode!r}, tokenizer=tokenizer) or "
                    f"Removal({mode!r}, token_id=...)."
                )
            token_id = 0
        self.token_id = check_int("token_id", token_id, 0)

    def __repr__(self) -> str:
        return f"Removal({self.mode!r}, token_id={self.token_id})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Removal) and (self.mode, self.token_id) == (
            other.mode,
            other.token_id,
        )

    def __hash__(self) -> int:
        return hash((self.mode, self.token_id))

    def apply(
        self, inputs: Tensor, keep: Tensor, additional_forward_args: Tuple = ()
    ) -> Tuple[Tensor, Tuple]:
        """Remove the tokens where ``keep`` is False.

        Args:
            inputs (Tensor): (batch, tokens) token ids.
            keep (Tensor): (batch, tokens) bool; False marks a removed token.
            additional_forward_args (tuple): The batch's extra arguments.

        Returns:
            The new token ids and additional arguments.
        """
        if self.mode == "delete":
            source = deletion_source(keep)
            return _gather_tokens(inputs, source, self.token_id), _move_args(
                additional_forward_args, source
            )
        replaced = torch.where(keep, inputs, torch.full_like(inputs, self.token_id))
        return replaced, additional_forward_args


def as_removal(removal: Union[str, Removal]) -> Removal:
    """A :class:`Removal` from a metric's ``removal`` argument."""
    if isinstance(removal, Removal):
        return removal
    if isinstance(removal, str):
        return Removal(removal)
    raise TypeError(
        "`removal` must be a mode name or a Removal (e.g. Removal('mask', "
        f"tokenizer=tokenizer)); got {type(removal).__name__}."
    )


def deletion_source(keep: Tensor) -> Tensor:
    """For each new position, the old position whose token moves there, or -1
    for a freed position at the end.

    A stable sort of the removed flags puts the kept tokens first, in order.
    """
    order = torch.sort((~keep).to(torch.uint8), dim=1, stable=True).indices
    kept = keep.sum(dim=1, keepdim=True)
    positions = torch.arange(keep.shape[1], device=keep.device).unsqueeze(0)
    return torch.where(positions < kept, order, -1)


def _gather_tokens(values: Tensor, source: Tensor, fill: Any) -> Tensor:
    gathered = values.gather(1, source.clamp(min=0))
    return torch.where(source >= 0, gathered, torch.full_like(gathered, fill))


def _move_args(additional_forward_args: Tuple, source: Tensor) -> Tuple:
    return tuple(
        (
            _gather_tokens(arg, source.to(arg.device), 0)
            if isinstance(arg, Tensor) and arg.dim() == 2 and arg.shape == source.shape
            else arg
        )
        for arg in additional_forward_args
    )


class _DeletingForward:
    """Runs ``forward_func`` on rows packed as (rows, 2, tokens): the new ids and
    the deletion source, which moves the row's additional arguments."""

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        self.forward_func = forward_func

    def __call__(self, packed: Tensor, *additional_forward_args: Any) -> Any:
        ids, source = packed[:, 0], packed[:, 1]
        return self.forward_func(ids, *_move_args(additional_forward_args, source))


def evaluate_removed(
    forward_func: Callable[..., Any],
    inputs: Tensor,
    additional_forward_args: Tuple,
    row_example: Tensor,
    row_keep: Callable[[Tensor], Tensor],
    removal: Removal,
    internal_batch_size: Optional[int] = None,
    show_progress: bool = False,
    desc: str = "removal",
) -> Tensor:
    """Model outputs for many copies of the examples, each with some words removed.

    Args:
        forward_func (Callable): The model's forward function.
        inputs (Tensor): (batch, tokens) token ids.
        additional_forward_args (tuple): Extra arguments of the batch.
        row_example (Tensor): (rows,) the example of each copy.
        row_keep (Callable): ``rows -> (len(rows), tokens)`` bool, False on the
                    tokens removed from those copies.
        removal (Removal): How tokens are removed.
        internal_batch_size (int, optional): Copies per forward pass.
        show_progress (bool): Show a progress bar.
        desc (str): The bar's label.

    Returns:
        The model's outputs, one row per copy.
    """
    row_example = row_example.to(inputs.device)
    if removal.mode == "delete":

        def packed_rows(rows: Tensor) -> Tensor:
            source = deletion_source(row_keep(rows))
            ids = _gather_tokens(inputs[row_example[rows]], source, removal.token_id)
            return torch.stack([ids, source], dim=1)

        return evaluate_rows(
            _DeletingForward(forward_func),
            inputs,
            additional_forward_args,
            row_example,
            None,
            internal_batch_size,
            show_progress,
            desc,
            input_rows=packed_rows,
        )

    def replaced_rows(rows: Tensor) -> Tensor:
        ids, _ = removal.apply(inputs[row_example[rows]], row_keep(rows))
        return ids

    return evaluate_rows(
        forward_func,
        inputs,
        additional_forward_args,
        row_example,
        None,
        internal_batch_size,
        show_progress,
        desc,
        input_rows=replaced_rows,
    )
