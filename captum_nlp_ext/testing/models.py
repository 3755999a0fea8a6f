"""Tiny Hugging Face classifiers built from configs and trained in seconds."""

from typing import Any, Dict

import torch
import torch.nn.functional as F
from torch.nn import Module

from captum_nlp_ext.testing.synthetic import SyntheticTask


def tiny_bert_classifier(
    vocab_size: int, num_labels: int = 2, seed: int = 0, **config: Any
) -> Module:
    """A randomly initialised two-layer BERT classifier (hidden size 32), in eval
    mode. Keyword arguments override ``BertConfig`` fields."""
    from transformers import BertConfig, BertForSequenceClassification

    settings: Dict[str, Any] = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=num_labels,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    settings.update(config)
    torch.manual_seed(seed)
    return BertForSequenceClassification(BertConfig(**settings)).eval()


def train_classifier(
    model: Module,
    task: SyntheticTask,
    steps: int = 300,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
) -> float:
    """Train ``model`` on ``task`` with Adam and return its training accuracy.

    The model is left in eval mode.
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        batch = torch.randint(0, len(task), (batch_size,), generator=generator)
        logits = model(
            input_ids=task.input_ids[batch], attention_mask=task.attention_mask[batch]
        ).logits
        # Label smoothing keeps the logits moderate: a saturated tanh pooler
        # would make every attribution of one class exactly zero.
        loss = F.cross_entropy(logits, task.labels[batch], label_smoothing=0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        logits = model(
            input_ids=task.input_ids, attention_mask=task.attention_mask
        ).logits
    return float((logits.argmax(-1) == task.labels).float().mean())


class NaNClassifier(Module):
    """A classifier that returns NaN logits for every input holding the token
    ``poison`` and the wrapped model's output otherwise: a broken model with a
    known answer, for testing how code handles non-finite outputs.

    Args:
        model (Module): A Hugging Face sequence classifier.
        poison (int): The token id that breaks the output.
        position (int, optional): Only the token at this position counts.
                    Default: None (anywhere in the input)
    """

    def __init__(self, model: Module, poison: int, position: Any = None) -> None:
        super().__init__()
        self.model: Any = model
        self.poison, self.position = poison, position
        self.config = model.config

    def get_input_embeddings(self) -> Module:
        return self.model.get_input_embeddings()

    @property
    def base_model(self) -> Module:
        return self.model.base_model

    def forward(
        self, input_ids: Any = None, attention_mask: Any = None, **kwargs: Any
    ) -> Any:
        output = self.model(
            input_ids=input_ids, attention_mask=attention_mask, **kwargs
        )
        seen = (
            input_ids
            if self.position is None
            else input_ids[:, self.position : self.position + 1]
        )
        bad = (seen == self.poison).any(1, keepdim=True)
        logits = output["logits"]
        output["logits"] = torch.where(
            bad, torch.full_like(logits, float("nan")), logits
        )
        return output
