"""The text classifiers of VMASK's own setting (Chen and Ji, EMNLP 2020): a
CNN (Kim, EMNLP 2014) and an LSTM, trained from scratch over a frozen token
embedding table (here MiniLM's WordPiece table, 384 dimensions, where the
authors used word vectors). Both are called as ``model(input_ids,
attention_mask)`` and return (batch, classes) logits, so VMaskClassifier,
Captum's methods and ours take them as they take a Hugging Face classifier.

Our reading where the issue gives no size: the CNN has the usual widths 3, 4
and 5 with 100 filters each, max over time, dropout 0.5; the LSTM is one
bidirectional layer of 150 units each way, max-pooled over time, dropout 0.5.
"""

from typing import Optional

import torch
from torch import nn, Tensor

#: A position left out of the max over time (padding).
_LEFT_OUT = -1e4


def frozen_table(weight: Tensor, padding_idx: int) -> nn.Embedding:
    """An embedding table with these vectors that training leaves as it is."""
    return nn.Embedding.from_pretrained(
        weight.float(), freeze=True, padding_idx=padding_idx
    )


class TextCNN(nn.Module):
    """Convolutions of several widths over the token vectors, ReLU, the max
    over (unpadded) time, dropout and a linear layer."""

    def __init__(
        self,
        table: nn.Embedding,
        classes: int = 2,
        widths: tuple = (3, 4, 5),
        filters: int = 100,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.embedding = table
        dim = table.embedding_dim
        self.convs = nn.ModuleList(
            nn.Conv1d(dim, filters, w, padding=w // 2) for w in widths
        )
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(filters * len(widths), classes)

    def forward(self, input_ids: Tensor, attention_mask: Optional[Tensor] = None):
        x = self.embedding(input_ids).transpose(1, 2)
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        left_out = mask.unsqueeze(1) == 0
        pooled = [
            torch.relu(conv(x)[..., : input_ids.shape[1]])
            .masked_fill(left_out, _LEFT_OUT)
            .amax(dim=2)
            for conv in self.convs
        ]
        return self.out(self.dropout(torch.cat(pooled, dim=1)))


class TextLSTM(nn.Module):
    """A bidirectional LSTM over the token vectors (padding packed out), its
    states max-pooled over time, dropout and a linear layer."""

    def __init__(
        self,
        table: nn.Embedding,
        classes: int = 2,
        hidden: int = 150,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.embedding = table
        self.lstm = nn.LSTM(
            table.embedding_dim, hidden, batch_first=True, bidirectional=True
        )
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(2 * hidden, classes)

    def forward(self, input_ids: Tensor, attention_mask: Optional[Tensor] = None):
        x = self.embedding(input_ids)
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths, batch_first=True, enforce_sorted=False
        )
        states, _ = self.lstm(packed)
        states, _ = nn.utils.rnn.pad_packed_sequence(
            states, batch_first=True, total_length=input_ids.shape[1]
        )
        states = states.masked_fill(mask.unsqueeze(-1) == 0, _LEFT_OUT)
        return self.out(self.dropout(states.amax(dim=1)))
