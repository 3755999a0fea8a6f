"""Where the MiniLM SST-2 classifier decides: DiffMask input-gate probes fitted at
every layer l = 0..6 on SST-2 training sentences, their share of tokens kept on
SST-2 dev sentences, and the paper's figure for one sentence.

Usage: python -m benchmarks.diffmask.layers --out DIR [--train 1000] [--epochs 3]
    [--dev 100] [--example 0] [--gate input] [--threads 1]

Writes DIR/layers.png and DIR/layers.json (the share kept per layer).
"""

import argparse
import json
import time
from pathlib import Path

import torch

from captum_nlp_ext.attr import diffmask_across_layers
from captum_nlp_ext.datasets import load_sst2, resolve_models_dir
from captum_nlp_ext.huggingface import load_classifier


def _encode(tokenizer, texts):
    return tokenizer(
        texts, padding=True, truncation=True, max_length=128, return_tensors="pt"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--dev", type=int, default=100)
    parser.add_argument("--example", type=int, default=0)
    parser.add_argument("--gate", default="input", choices=["input", "hidden"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = args.model_dir or resolve_models_dir() / "minilm-sst2"
    model, tokenizer = load_classifier(folder)
    train = [e.text for e in load_sst2("train", args.data_dir, args.train)]
    batches = [
        dict(_encode(tokenizer, train[i : i + 32])) for i in range(0, len(train), 32)
    ]
    dev = [e.text for e in load_sst2("dev", args.data_dir, args.dev)]
    enc = _encode(tokenizer, dev)
    tick = time.time()
    sweep = diffmask_across_layers(
        model,
        batches,
        enc["input_ids"],
        enc["attention_mask"],
        gate=args.gate,
        epochs=args.epochs,
    )
    seconds = time.time() - tick
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][args.example])
    sweep.plot(example=args.example, tokens=tokens).savefig(out / "layers.png", dpi=120)
    kept = [round(float(k), 4) for k in sweep.kept]
    summary = dict(
        gate=args.gate,
        layers=sweep.layers,
        kept=kept,
        train_texts=len(train),
        epochs=args.epochs,
        dev_sentences=len(dev),
        seconds=round(seconds),
        example=dev[args.example],
    )
    (out / "layers.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
