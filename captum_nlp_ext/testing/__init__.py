"""Tools for testing attribution methods: synthetic tasks with known answers and
tiny models trained on them in seconds (like :mod:`captum.testing`)."""

from captum_nlp_ext.testing.generative import (
    FAMILIES,
    key_first_rate,
    NextTokenTask,
    planted_next_token_task,
    tiny_causal_lm,
    train_causal_lm,
    word_prompt,
    word_tokenizer,
)
from captum_nlp_ext.testing.models import (
    NaNClassifier,
    tiny_bert_classifier,
    train_classifier,
)
from captum_nlp_ext.testing.synthetic import (
    keyword_conjunction_task,
    negated_keyword_task,
    planted_keyword_task,
    SyntheticTask,
)

__all__ = [
    "FAMILIES",
    "key_first_rate",
    "NextTokenTask",
    "planted_next_token_task",
    "tiny_causal_lm",
    "train_causal_lm",
    "word_prompt",
    "word_tokenizer",
    "NaNClassifier",
    "SyntheticTask",
    "planted_keyword_task",
    "negated_keyword_task",
    "keyword_conjunction_task",
    "tiny_bert_classifier",
    "train_classifier",
]
