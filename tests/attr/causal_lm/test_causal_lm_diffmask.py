"""DiffMask on a causal LM: gates fitted on a corpus of prompts to keep the
next-token distribution, explained through CausalLMAttribution."""

import torch

from captum_nlp_ext.attr import CausalLMAttribution, DiffMask
from captum_nlp_ext.testing import (
    key_first_rate,
    tiny_causal_lm,
    train_causal_lm,
    word_prompt,
)


def prompt_batches(tokenizer, prompts, size=32):
    encoded = tokenizer(prompts, return_tensors="pt", padding=True)
    return [
        {key: value[i : i + size] for key, value in encoded.items()}
        for i in range(0, len(prompts), size)
    ]


def test_the_divergence_is_the_next_tokens_after_each_prompt(tokenizer):
    """Right-padded prompts of different lengths: each is judged at its own
    last token, as alone (GPT-2 takes the attention mask by name)."""
    model = tiny_causal_lm("gpt2", len(tokenizer), seed=0).eval()
    diffmask = DiffMask(model)
    assert diffmask._gated is model.get_input_embeddings()
    prompts = ["w1 key2 w3 w4", "w5 key1"]
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    together = diffmask.divergence(batch["input_ids"], batch["attention_mask"])
    alone = torch.cat(
        [
            diffmask.divergence(tokenizer(p, return_tensors="pt")["input_ids"])
            for p in prompts
        ]
    )
    assert together.shape == (2,) and (together > 0).all()
    assert torch.allclose(together, alone, rtol=1e-4, atol=1e-7)
    history = diffmask.fit(prompt_batches(tokenizer, prompts))
    assert 0 < history[0]["l0"] <= 1


def test_diffmask_gates_rank_the_decisive_word_on_llama(task, tokenizer):
    """Fitted on the training prompts (50 epochs); the gates of held-out
    prompts keep the key. GPT-2 and Gemma 3 in miniature do not reach this
    (benchmarks/llm/RESULTS.md)."""
    model = tiny_causal_lm("llama", len(tokenizer), seed=0)
    assert train_causal_lm(model, tokenizer, task[0], steps=200) == 1.0
    diffmask = DiffMask(model)
    diffmask.fit(prompt_batches(tokenizer, task[0].prompts), epochs=50)
    explainer = CausalLMAttribution(diffmask, tokenizer)
    gates = explainer.attribute(word_prompt("w1 key2 w3"), target=" answer2")
    assert ((gates.seq_attr >= 0) & (gates.seq_attr <= 1)).all()
    assert key_first_rate(explainer, task[1]) >= 0.9
