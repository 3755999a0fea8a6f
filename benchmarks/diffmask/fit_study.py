"""How DiffMask's probe trains on SST-2 within a CPU budget of minutes, and why
its gates rank words near random there: fit the input-gate probe on SST-2
training sentences with one of a few variants of its start and its baseline,
and score it on dev sentences as it trains (AOPC comprehensiveness and
sufficiency with [PAD] erasure, the benchmark's), beside random scores.

Usage: python -m benchmarks.diffmask.fit_study [--train 2000] [--epochs 3]
    [--lr 3e-4] [--init authors|open] [--baseline learned|pad|neutral]
    [--steps N] [--eval-every 100] [--dev 100] [--show 8] [--out FILE]

Variants (the first of each is DiffMask's own, as in ``DiffMask.fit``):
  --init authors: the gate MLP's random start (most gates open, some closed);
         open: its output layer at zero, every gate open at the start.
  --baseline learned: the baseline vector trained with the probe;
             pad: fixed at the [PAD] token's embedding-block output;
             neutral: fitted first (60 batches) so that an input with every
             gate closed is predicted 50/50, then fixed.
The fit is DiffMask.fit's (Adam on the probe, RMSprop ascent on the
multiplier, margin 0.1), on shuffled batches of 32; it uses DiffMask's
internals to vary what its API does not. One torch thread.
"""

import argparse
import json
import time

import torch

from captum_nlp_ext._utils.hooks import eval_mode, frozen_parameters
from captum_nlp_ext.attr import DiffMask
from captum_nlp_ext.attr._utils.diffmask import gating, recording
from captum_nlp_ext.datasets import load_sst2, resolve_models_dir
from captum_nlp_ext.huggingface import load_classifier, word_feature_mask
from captum_nlp_ext.metrics import aopc_comprehensiveness, aopc_sufficiency, Removal


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--init", choices=["authors", "open"], default="authors")
    parser.add_argument(
        "--baseline", choices=["learned", "pad", "neutral"], default="learned"
    )
    parser.add_argument("--steps", type=int, default=None, help="stop after N steps")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--dev", type=int, default=100)
    parser.add_argument("--show", type=int, default=0)
    parser.add_argument("--out", default=None)
    parser.add_argument("--model-dir", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, tok = load_classifier(args.model_dir or resolve_models_dir() / "minilm-sst2")
    train = [e.text for e in load_sst2("train", None, args.train)]
    dev = [e.text for e in load_sst2("dev", None, args.dev)]
    shuffle = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(args.epochs):
        order = torch.randperm(len(train), generator=shuffle).tolist()
        for start in range(0, len(order), 32):
            texts = [train[i] for i in order[start : start + 32]]
            batches.append(dict(tok(texts, padding=True, return_tensors="pt")))

    dm = DiffMask(model)
    if args.init == "open":
        for gate in dm.probe.gates:
            torch.nn.init.zeros_(gate.out.weight)
            torch.nn.init.zeros_(gate.out.bias)
    if args.baseline == "pad":
        ids = torch.tensor([[tok.cls_token_id, tok.pad_token_id, tok.sep_token_id]])
        with torch.no_grad(), recording([dm._gated]) as states:
            model(ids)
        dm.baseline.data = states[0][0, 1].clone()
    if args.baseline == "neutral":
        fit_neutral(dm, model, batches[:60])
    groups = [{"params": list(dm.probe.parameters()), "lr": args.lr}]
    if args.baseline == "learned":
        groups.append({"params": [dm.baseline], "lr": 1e-3})
    optimizer = torch.optim.Adam(groups)
    ascent = torch.optim.RMSprop([dm.multiplier], lr=0.3, maximize=True)

    enc = tok(dev, padding=True, return_tensors="pt")
    scorer = Scorer(model, tok, enc)
    draws = torch.Generator().manual_seed(1)
    random_scores = torch.rand(scorer.units.shape, generator=draws)
    print("random", json.dumps(scorer.score(random_scores)), flush=True)
    generator = torch.Generator().manual_seed(0)
    started, window = time.time(), []
    with eval_mode(model), frozen_parameters(model):
        for step, batch in enumerate(batches, 1):
            kl, l0 = dm._step(batch["input_ids"], (batch["attention_mask"],), generator)
            optimizer.zero_grad()
            ascent.zero_grad()
            (l0 + dm.multiplier * (kl - 0.1)).mean().backward()
            optimizer.step()
            ascent.step()
            with torch.no_grad():
                dm.multiplier.clamp_(min=0.0)
            window = (window + [(kl.mean().item(), l0.mean().item())])[-50:]
            last = step == len(batches) or step == args.steps
            if step % args.eval_every == 0 or last:
                report = dict(
                    step=step,
                    seconds=round(time.time() - started),
                    train_kl=round(sum(w[0] for w in window) / len(window), 3),
                    train_l0=round(sum(w[1] for w in window) / len(window), 3),
                    multiplier=round(dm.multiplier.item(), 1),
                    **scorer.probe(dm),
                )
                print("eval", json.dumps(report), flush=True)
            if last:
                break
    for i in range(min(args.show, len(dev))):
        print(scorer.gates_text(dm, i))
    if args.out:
        dm.save(args.out)


def fit_neutral(dm, model, batches):
    optimizer = torch.optim.Adam([dm.baseline], lr=1e-2)
    with eval_mode(model), frozen_parameters(model):
        for batch in batches:
            closed = torch.zeros(batch["input_ids"].shape)
            with gating(dm._gated, closed, dm.baseline):
                logits = model(**batch).logits
            loss = -torch.log_softmax(logits, -1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


class Scorer:
    def __init__(self, model, tok, enc):
        self.model, self.tok, self.enc = model, tok, enc
        self.ids, self.mask = enc["input_ids"], enc["attention_mask"]
        self.units = word_feature_mask(enc)
        self.removal = Removal("pad", tokenizer=tok)

    def forward(self, ids, mask):
        return self.model(ids, attention_mask=mask).logits

    def score(self, scores):
        run = dict(
            feature_mask=self.units,
            additional_forward_args=(self.mask,),
            removal=self.removal,
        )
        comp = aopc_comprehensiveness(self.forward, self.ids, scores, **run)
        suff = aopc_sufficiency(self.forward, self.ids, scores, **run)
        return dict(
            comprehensiveness=round(comp.mean, 3), sufficiency=round(suff.mean, 3)
        )

    def probe(self, dm):
        words = dm.attribute(
            self.ids, additional_forward_args=(self.mask,), feature_mask=self.units
        )
        tokens = dm.attribute(self.ids, additional_forward_args=(self.mask,))
        attended = self.mask.bool()
        return dict(
            kept=round(float((tokens[attended] > 0.5).float().mean()), 3),
            dev_kl=round(float(dm.divergence(self.ids, self.mask).mean()), 3),
            **self.score(words),
        )

    def gates_text(self, dm, i):
        gates = dm.attribute(
            self.ids[i : i + 1], additional_forward_args=(self.mask[i : i + 1],)
        )
        n = int(self.mask[i].sum())
        tokens = self.tok.convert_ids_to_tokens(self.ids[i, :n])
        return " ".join(f"{t}:{float(g):.2f}" for t, g in zip(tokens, gates[0, :n]))


if __name__ == "__main__":
    main()
