"""Helpers shared by the benchmark scripts: the real model and data, the machine."""

import inspect
import os
import platform
import time
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

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


def split_settings(
    method_class: Any, settings: Dict[str, Any]
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """A study's settings of a method as the method takes them: those of its
    constructor, and those of its ``attribute``."""
    made = inspect.signature(method_class.__init__).parameters
    return (
        {k: v for k, v in settings.items() if k in made},
        {k: v for k, v in settings.items() if k not in made},
    )


def today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


def sst2_model_and_sentences(n: int, split: str = "dev") -> Tuple[Any, Any, List]:
    model, tokenizer = load_classifier(resolve_models_dir() / "minilm-sst2")
    return model, tokenizer, load_sst2(split, limit=n)


def encode_words(
    tokenizer: Any, examples: List, max_length: Optional[int] = None
) -> Tuple[Any, Any]:
    """The padded encoding of examples by their words (cut to ``max_length``
    tokens if given), and its word feature mask."""
    enc = tokenizer(
        [list(e.words) for e in examples],
        is_split_into_words=True,
        truncation=max_length is not None,
        max_length=max_length,
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


def planted_models(seed: int) -> Iterator[Tuple[str, Any, Any, float]]:
    """(name, trained tiny BERT, held-out split, training accuracy) for each
    planted task of :mod:`captum_nlp_ext.testing`, trained as the tests train
    them (seconds each)."""
    from captum_nlp_ext.testing import (
        keyword_conjunction_task,
        negated_keyword_task,
        planted_keyword_task,
        tiny_bert_classifier,
        train_classifier,
    )

    negated = negated_keyword_task(
        n=700, n_fillers=10, min_words=3, max_words=6, seed=seed
    )
    for name, task, n_train, steps in (
        ("planted keyword", planted_keyword_task(n=600, seed=seed), 500, 120),
        ("keyword conjunction", keyword_conjunction_task(n=700, seed=seed), 600, 300),
        ("negated keyword", negated, 600, 300),
    ):
        train, test = task.split(n_train)
        model = tiny_bert_classifier(task.vocab_size, seed=seed)
        accuracy = train_classifier(model, train, steps=steps)
        yield name, model, test, accuracy


def evidence_first(
    model: Any, task: Any, explain: Callable[..., Any]
) -> Tuple[int, float]:
    """Among the sentences whose evidence decides the prediction (it flips when
    the evidence is replaced by [PAD]), the share where a word of the evidence
    gets the highest score; ``explain(model, ids, mask, feature_mask)`` gives
    (batch, tokens) scores of the predicted class. Returns (sentences, share)."""
    from captum_nlp_ext.testing.synthetic import PAD

    with torch.no_grad():
        logits = model(input_ids=task.input_ids, attention_mask=task.attention_mask)
        predicted = logits.logits.argmax(1)
        without = torch.where(task.evidence, PAD, task.input_ids)
        flipped = model(input_ids=without, attention_mask=task.attention_mask)
        decided = flipped.logits.argmax(1) != predicted
    scores = explain(
        model,
        task.input_ids[decided],
        task.attention_mask[decided],
        task.feature_mask[decided],
    )
    scores = scores.masked_fill(task.feature_mask[decided] < 0, -float("inf"))
    top = scores.argmax(1)
    hits = task.evidence[decided][torch.arange(len(top)), top].float().mean()
    return int(decided.sum()), float(hits)
