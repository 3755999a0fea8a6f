"""A planted next-token task and tiny causal language models trained on it in
seconds: the generative counterpart of :mod:`captum_nlp_ext.testing.synthetic`.

A prompt is a few filler words with one key word among them; the word that
follows the prompt is decided by the key alone (``key3`` is always followed by
``answer3``). An explanation of that next word is right when it ranks the key
first.
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Module

#: The special tokens of :func:`word_tokenizer`, in vocabulary order.
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
#: Causal LM families :func:`tiny_causal_lm` builds.
FAMILIES = ("gpt2", "llama", "gemma3")


@dataclass(frozen=True)
class NextTokenTask:
    """Prompts whose next word is decided by one key word.

    Attributes:
        prompts (list[str]): Space-separated words (no special tokens).
        answers (list[str]): The word that follows each prompt.
        key_positions (list[int]): The index, among a prompt's words, of the
                    key that decides its answer.
        words (list[str]): Every word of the vocabulary, specials excluded.
    """

    prompts: List[str]
    answers: List[str]
    key_positions: List[int]
    words: List[str]

    def __len__(self) -> int:
        return len(self.prompts)

    def split(self, n_first: int) -> Tuple["NextTokenTask", "NextTokenTask"]:
        """The first ``n_first`` prompts and the rest, as two tasks."""

        def part(s: slice) -> "NextTokenTask":
            return NextTokenTask(
                self.prompts[s], self.answers[s], self.key_positions[s], self.words
            )

        return part(slice(0, n_first)), part(slice(n_first, None))


def planted_next_token_task(
    n: int = 400, n_keys: int = 4, n_fillers: int = 12, length: int = 6, seed: int = 0
) -> NextTokenTask:
    """``n`` prompts of ``length`` words: fillers and one key at a random place.

    Args:
        n (int): Number of prompts. Default: 400
        n_keys (int): Number of keys (and answers). Default: 4
        n_fillers (int): Number of filler words. Default: 12
        length (int): Words a prompt. Default: 6
        seed (int): Seed of the draw. Default: 0
    """
    keys = [f"key{i}" for i in range(n_keys)]
    answers = [f"answer{i}" for i in range(n_keys)]
    fillers = [f"w{i}" for i in range(n_fillers)]
    generator = torch.Generator().manual_seed(seed)
    prompts, targets, positions = [], [], []
    for _ in range(n):
        draw = torch.randint(0, n_fillers, (length,), generator=generator)
        words = [fillers[i] for i in draw.tolist()]
        key = int(torch.randint(0, n_keys, (1,), generator=generator))
        position = int(torch.randint(0, length, (1,), generator=generator))
        words[position] = keys[key]
        prompts.append(" ".join(words))
        targets.append(answers[key])
        positions.append(position)
    return NextTokenTask(prompts, targets, positions, fillers + keys + answers)


def word_tokenizer(words: List[str]) -> Any:
    """A Hugging Face fast tokenizer with one token a word (split on
    whitespace), a ``<bos>`` prepended to every text, and offsets: what
    Captum's ``TextTokenInput`` and our template inputs need, built in code.
    """
    from tokenizers import processors, Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(list(SPECIALS) + list(words))}
    backend = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = WhitespaceSplit()
    backend.post_processor = processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", vocab["<bos>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
        unk_token="<unk>",
    )


def tiny_causal_lm(
    family: str, vocab_size: int, seed: int = 0, **config: Any
) -> Module:
    """A randomly initialised two-layer causal LM (hidden size 32) of one
    ``family`` (``"gpt2"``, ``"llama"`` or ``"gemma3"``), in eval mode; the
    ids of :data:`SPECIALS` are its pad, bos and eos. Keyword arguments
    override the config's fields."""
    import transformers

    common: Dict[str, Any] = dict(
        vocab_size=vocab_size, pad_token_id=0, bos_token_id=1, eos_token_id=2
    )
    if family == "gpt2":
        name, settings = "GPT2", dict(
            n_embd=32, n_layer=2, n_head=2, n_positions=64, resid_pdrop=0.0,
            embd_pdrop=0.0, attn_pdrop=0.0,
        )  # fmt: skip
    elif family == "llama":
        name, settings = "Llama", dict(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=1,
            max_position_embeddings=64,
        )  # fmt: skip
    elif family == "gemma3":
        name, settings = "Gemma3Text", dict(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=1, head_dim=16,
            max_position_embeddings=64, sliding_window=16,
        )  # fmt: skip
    else:
        raise ValueError(f"`family` must be one of {FAMILIES}; got {family!r}.")
    settings.update(common)
    settings.update(config)
    config_class = getattr(transformers, f"{name}Config")
    model_name = "GPT2LMHeadModel" if family == "gpt2" else "LlamaForCausalLM"
    if family == "gemma3":
        model_name = "Gemma3ForCausalLM"
    torch.manual_seed(seed)
    return getattr(transformers, model_name)(config_class(**settings)).eval()


def train_causal_lm(
    model: Module,
    tokenizer: Any,
    task: NextTokenTask,
    steps: int = 300,
    batch_size: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    every_token: bool = False,
) -> float:
    """Train ``model`` to predict each prompt's answer (the loss is on that one
    position; with ``every_token``, on every token of prompt and answer, as a
    language model is trained, so that its predictions inside the prompt are
    a distribution of prompt words) and return the fraction of ``task``'s
    prompts whose greedy next token is the answer. The model is left in eval
    mode."""
    ids, answer_ids = _encode(tokenizer, task)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        batch = torch.randint(0, len(task), (batch_size,), generator=generator)
        rows = torch.cat([ids[batch], answer_ids[batch, None]], dim=1)
        first = 0 if every_token else rows.shape[1] - 2
        logits = model(input_ids=rows[:, :-1]).logits[:, first:]
        loss = F.cross_entropy(logits.flatten(0, 1), rows[:, first + 1 :].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        predicted = model(input_ids=ids).logits[:, -1].argmax(-1)
    return float((predicted == answer_ids).float().mean())


def word_prompt(prompt: str) -> Any:
    """Captum's ``TextTemplateInput`` of ``prompt`` with one template slot a
    word, as Captum's tutorials build word features."""
    from captum.attr import TextTemplateInput

    words = prompt.split()
    return TextTemplateInput(" ".join(["{}"] * len(words)), words)


def key_first_rate(explainer: Any, task: NextTokenTask, **options: Any) -> float:
    """The share of ``task``'s prompts whose highest-scored word is the key
    that decides their answer, ``explainer`` being a ``CausalLMAttribution``
    (or Captum's ``LLMAttribution``) called with ``options``."""
    hits = 0
    for prompt, answer, key in zip(task.prompts, task.answers, task.key_positions):
        result = explainer.attribute(
            word_prompt(prompt), target=" " + answer, **options
        )
        hits += int(result.seq_attr.argmax()) == key
    return hits / len(task)


def _encode(tokenizer: Any, task: NextTokenTask) -> Tuple[Tensor, Tensor]:
    ids = tokenizer(task.prompts, return_tensors="pt")["input_ids"]
    answer_ids = torch.tensor(tokenizer.convert_tokens_to_ids(task.answers))
    return ids, answer_ids
