"""Helpers shared by the benchmark scripts: the real model and data, the machine."""

import os
import platform
import time
from datetime import datetime, timezone
from typing import Any, Callable, List, Tuple

import torch

from captum_nlp_ext.datasets import load_sst2, resolve_models_dir
from captum_nlp_ext.huggingface import load_classifier, word_feature_mask


def machine() -> str:
    cpus = os.cpu_count()
    return (
        f"{platform.processor() or platform.machine()}, {cpus} CPU cores, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"Python {platform.python_version()}"
    )


def today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


def sst2_model_and_sentences(n: int, split: str = "dev") -> Tuple[Any, Any, List]:
    model, tokenizer = load_classifier(resolve_models_dir() / "minilm-sst2")
    return model, tokenizer, load_sst2(split, limit=n)


def encode_words(tokenizer: Any, examples: List) -> Tuple[Any, Any]:
    """The padded encoding of examples by their words, and its word feature
    mask."""
    enc = tokenizer(
        [e.words for e in examples],
        is_split_into_words=True,
        padding=True,
        return_tensors="pt",
    )
    return enc, word_feature_mask(enc)


def sst2_batch(n: int, split: str = "dev") -> Tuple[Any, Any, Any, Any, Any]:
    """(model, tokenizer, input_ids, attention_mask, word feature mask) for the
    first ``n`` SST-2 sentences, words being their PTB tokens."""
    model, tokenizer, examples = sst2_model_and_sentences(n, split)
    enc, units = encode_words(tokenizer, examples)
    return model, tokenizer, enc["input_ids"], enc["attention_mask"], units


def timed(function: Callable[[], Any]) -> Tuple[float, Any]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result
