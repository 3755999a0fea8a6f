"""The key/value cache of a prompt's fixed prefix, computed once per
explanation and shared by every perturbed copy.

The perturbed copies of a prompt differ only from its first interpretable
token on: the tokens before it (a system prompt, few-shot demonstrations) are
never perturbed, so their keys and values are the same in every copy. The
model then runs on the rest alone, which is most of the saving when the fixed
text is most of the prompt.
"""

import copy
import inspect
from typing import Any, Dict

import torch
from torch import Tensor
from torch.nn import Module


class PrefixCache:
    """The cache of ``prefix_ids``, handed out as fresh copies (a forward pass
    appends to the cache it is given).

    Args:
        model (Module): A Hugging Face causal LM that returns a cache.
        prefix_ids (Tensor): (1, prefix) token ids.
    """

    def __init__(self, model: Module, prefix_ids: Tensor) -> None:
        self.length = prefix_ids.shape[1]
        parameters = inspect.signature(model.forward).parameters
        # transformers 5 renamed ``past_key_values`` to ``cache``.
        self._name = "cache" if "cache" in parameters else "past_key_values"
        # Only the last position's logits are read (a candidate model's
        # prediction after the prefix).
        options = {"logits_to_keep": 1} if "logits_to_keep" in parameters else {}
        with torch.no_grad():
            mask = torch.ones_like(prefix_ids)
            output = model(
                input_ids=prefix_ids, attention_mask=mask, use_cache=True, **options
            )
        #: (1, 1, vocabulary) the model's logits for the token after the prefix.
        self.next_logits: Tensor = output.logits[:, -1:].detach()
        cache = getattr(output, "cache", None)
        self._cache = output.past_key_values if cache is None else cache
        if self._cache is None or not hasattr(self._cache, "batch_repeat_interleave"):
            raise TypeError(
                f"{type(model).__name__} returns no Hugging Face cache: explain "
                "it with reuse_prefix=False."
            )

    def for_rows(self, rows: int) -> Dict[str, Any]:
        """Keyword arguments of a forward pass over ``rows`` continuations of
        the prefix: a copy of its cache, one row each."""
        cache = copy.deepcopy(self._cache)
        cache.batch_repeat_interleave(rows)
        return {self._name: cache}
