"""Input marginalization judged by its paper's metric: AUC_rep of IM against
erasure by [PAD], [UNK] and deletion (Kim et al., EMNLP 2020, compare IM with
the erasure baselines this way) on SST-2 dev, with paired intervals.

Usage (one thread, about 15 minutes for 100 sentences)::

    python -m benchmarks.im.auc_rep --n 100

Every method explains the predicted class of the MiniLM SST-2 classifier with
words as units (PTB tokens of SST-2). IM runs ``LayerInputMarginalization``
with the MiniLM MLM under two candidate rules: the benchmark's (top-k = 128 //
words, at budget 128) and top-50; erasure is leave-one-out (the drop of the
predicted probability when the word is replaced or deleted). AUC_rep replaces
the top words one at a time by the same MLM's guesses (lower is better); it
favours methods that use that MLM (Pham et al. 2022), so AOPC comprehensiveness
with [PAD] removal is given beside it.
"""

import argparse
import time
from typing import Callable, Dict, List

import torch
from benchmarks.common import encode_words, machine, today
from torch import Tensor
from transformers import AutoModelForMaskedLM

from captum_nlp_ext.attr import LayerInputMarginalization
from captum_nlp_ext.datasets import load_sst2, resolve_models_dir
from captum_nlp_ext.huggingface import (
    ClassifierForward,
    get_embedding_layer,
    load_classifier,
)
from captum_nlp_ext.metrics import (
    aopc_comprehensiveness,
    auc_rep,
    leave_one_out,
    Removal,
    summarize,
)

Method = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]


def methods(model, tokenizer, mlm) -> Dict[str, Method]:
    forward = ClassifierForward(model)
    layer = get_embedding_layer(model)

    def im(rule: Callable[[Tensor], int]) -> Method:
        def run(ids, mask, units, target):
            method = LayerInputMarginalization(forward, layer, mlm, tokenizer=tokenizer)
            rows = []
            for i in range(ids.shape[0]):  # the rule depends on each one's words
                words = int(units[i].max()) + 1
                rows.append(
                    method.attribute(
                        ids[i : i + 1],
                        target=target[i : i + 1],
                        additional_forward_args=(mask[i : i + 1],),
                        feature_mask=units[i : i + 1],
                        top_k=rule(torch.tensor(words)),
                    )
                )
            return torch.cat(rows)

        return run

    def erasure(mode: str) -> Method:
        def run(ids, mask, units, target):
            return leave_one_out(
                forward,
                ids,
                feature_mask=units,
                target=target,
                additional_forward_args=(mask,),
                removal=Removal(mode, tokenizer=tokenizer),
            )

        return run

    def random(ids, mask, units, target):
        generator = torch.Generator().manual_seed(int(ids.sum()))
        return torch.rand(ids.shape, generator=generator)

    return {
        "IM (top-k = 128 // words)": im(lambda words: max(1, 128 // int(words))),
        "IM (top-50)": im(lambda words: 50),
        "erasure [PAD]": erasure("pad"),
        "erasure [UNK]": erasure("unk"),
        "erasure (deletion)": erasure("delete"),
        "random": random,
    }


def interval(values: List[float], signed: bool = False) -> str:
    r = summarize("", torch.tensor(values, dtype=torch.float64))
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(r.mean)} [{f.format(r.ci_low)}, {f.format(r.ci_high)}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--models-dir", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    models = resolve_models_dir(args.models_dir)
    model, tokenizer = load_classifier(models / "minilm-sst2")
    mlm = AutoModelForMaskedLM.from_pretrained(models / "minilm-mlm").eval()
    examples = load_sst2("dev", limit=args.n)
    table = methods(model, tokenizer, mlm)
    forward = ClassifierForward(model)
    scores: Dict[str, Dict[str, List[float]]] = {
        name: {"auc_rep": [], "comprehensiveness": []} for name in table
    }
    seconds = {name: 0.0 for name in table}
    started = time.time()
    for start in range(0, len(examples), args.batch):
        enc, units = encode_words(tokenizer, examples[start : start + args.batch])
        ids, mask = enc["input_ids"], enc["attention_mask"]
        with torch.no_grad():
            target = model(input_ids=ids, attention_mask=mask).logits.argmax(-1)
        for name, method in table.items():
            t0 = time.perf_counter()
            with torch.no_grad():
                attributions = method(ids, mask, units, target)
            seconds[name] += time.perf_counter() - t0
            common = dict(
                feature_mask=units, target=target, additional_forward_args=(mask,)
            )
            rep = auc_rep(
                forward, mlm, ids, attributions, tokenizer=tokenizer, **common
            )
            comp = aopc_comprehensiveness(
                forward, ids, attributions, removal=Removal("pad", tokenizer=tokenizer),
                **common,
            )  # fmt: skip
            scores[name]["auc_rep"] += rep.per_example.tolist()
            scores[name]["comprehensiveness"] += comp.per_example.tolist()
    print(f"{today()}; {machine()}; {len(examples)} SST-2 dev sentences; "
          f"{time.time() - started:.0f} s")  # fmt: skip
    print()
    print("| method | AUC_rep ↓ | IM (top-k) - method, AUC_rep | "
          "comprehensiveness ([PAD]) ↑ | seconds |")  # fmt: skip
    print("|---|---|---|---|---|")
    reference = scores["IM (top-k = 128 // words)"]["auc_rep"]
    for name in table:
        rep = scores[name]["auc_rep"]
        diff = [a - b for a, b in zip(reference, rep)]
        paired = "-" if rep is reference else interval(diff, signed=True)
        print(
            f"| {name} | {interval(rep)} | {paired} | "
            f"{interval(scores[name]['comprehensiveness'])} | {seconds[name]:.0f} |"
        )


if __name__ == "__main__":
    main()
