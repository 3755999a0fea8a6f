"""When may MaRC stop? Mask trajectories on SST-2 dev, and what each stopping
rule would have returned against the full run.

Every sentence is optimized for ``--steps`` steps (no stopping) in the runner's
batches (16 sentences sorted by length, the runner's seed), the masks recorded
every ``--every`` steps. For each rule and tolerance the script then reads off
the step at which each sentence would have stopped and compares the masks at
that step with the final ones: steps saved, the largest mask difference, the
rank correlation of the word scores and the AOPC comprehensiveness /
sufficiency of the two ([PAD] removal, the benchmark's protocol).

    OMP_NUM_THREADS=1 python -m benchmarks.marc.stopping --n 64
"""

import argparse
import json
from typing import Any, Dict, List, Optional

import torch
from benchmarks.common import encode_words, machine, sst2_model_and_sentences, today

from captum_nlp_ext.attr import LayerMaskOptimization, MaskOptimizationSettings
from captum_nlp_ext.attr._core import layer_mask_optimization as face
from captum_nlp_ext.attr._utils import mask_optimization as engine
from captum_nlp_ext.attr._utils.mask_optimization import (
    MaskOptimizer,
    mean_mask,
    stopping_rule,
)
from captum_nlp_ext.huggingface import ClassifierForward, get_embedding_layer
from captum_nlp_ext.metrics import aopc_comprehensiveness, aopc_sufficiency, Removal

ERASER = (1.0, 5.0, 10.0, 20.0, 50.0)


class _Recorder(MaskOptimizer):
    """Never stops; keeps the masks of every check."""

    trace: List[torch.Tensor] = []

    def should_stop(
        self, masks: torch.Tensor, previous: Optional[torch.Tensor], step: int
    ) -> torch.Tensor:
        _Recorder.trace.append(masks.clone())
        return torch.zeros(masks.shape[0], dtype=torch.bool)


def _spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.numel() < 3:
        return 1.0
    ra = a.argsort().argsort().double()
    rb = b.argsort().argsort().double()
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--out", default=None, help="JSON file of the results")
    parser.add_argument(
        "--traces",
        default=None,
        help="the traces file an earlier run wrote beside --out: no optimization",
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    model, tokenizer, examples = sst2_model_and_sentences(args.n)
    order = sorted(range(len(examples)), key=lambda i: (len(examples[i].words), i))
    forward = ClassifierForward(model)
    layer = get_embedding_layer(model, kind="full")
    face.MaskOptimizer = _Recorder  # type: ignore[misc]
    saved = torch.load(args.traces) if args.traces else None
    rows: List[Dict[str, Any]] = []
    for start in range(0, len(order), 16):
        batch = [examples[i] for i in order[start : start + 16]]
        enc, units = encode_words(tokenizer, batch)
        with torch.no_grad():
            target = forward(enc["input_ids"], enc["attention_mask"]).argmax(-1)
        valid = units.max(1).values + 1
        if saved is not None:
            batch_traces = saved[start : start + len(batch)]
        else:
            _Recorder.trace = []
            final = LayerMaskOptimization(
                forward,
                layer,
                settings=MaskOptimizationSettings(check_every=args.every),
                pad_token_id=tokenizer.pad_token_id,
            ).attribute(
                enc["input_ids"],
                additional_forward_args=(enc["attention_mask"],),
                feature_mask=units,
                max_steps=args.steps,
                seed=0,
            )
            trace = torch.stack(_Recorder.trace)  # (checks, rows, units)
            batch_traces = []
            for row in range(len(batch)):
                n_units = int(valid[row])
                present = units[row] >= 0
                last_masks = torch.zeros(n_units)
                last_masks[units[row][present]] = final[row][present]
                batch_traces.append(
                    torch.cat([trace[:, row, :n_units], last_masks.unsqueeze(0)])
                )
        for row in range(len(batch)):
            rows.append(
                {
                    "trace": batch_traces[row],
                    "ids": enc["input_ids"][row],
                    "mask": enc["attention_mask"][row],
                    "units": units[row],
                    "target": int(target[row]),
                }
            )
        print(f"{start + len(batch)} / {len(order)} sentences", flush=True)

    steps = [args.every * (c + 1) for c in range(len(rows[0]["trace"]) - 1)]
    steps.append(args.steps)
    rules: Dict[str, Any] = {"paper": None}
    for tolerance in (0.01, 0.02, 0.05, 0.1):
        rules[f"settled {tolerance}"] = tolerance
    for rho in (0.9, 0.95, 0.98, 0.99):
        rules[f"ranking {rho}"] = ("ranking", rho)

    def stop_index(row: Dict[str, Any], rule: str) -> int:
        trace = row["trace"]
        previous = torch.ones_like(trace[0])
        for c, masks in enumerate(trace):
            step = steps[c]
            if step >= args.steps:
                break
            if rules[rule] is None:
                valid = torch.ones_like(masks, dtype=torch.bool).unsqueeze(0)
                mean = mean_mask(masks.unsqueeze(0), valid)
                before = mean_mask(previous.unsqueeze(0), valid)
                if bool(stopping_rule(mean, before, step)[0]):
                    return c
            elif isinstance(rules[rule], tuple):
                # The engine's rule, at this threshold; none at the first check.
                engine.RANK_CORRELATION = rules[rule][1]
                valid = torch.ones(1, masks.numel(), dtype=torch.bool)
                pair = (masks.unsqueeze(0), previous.unsqueeze(0), valid)
                if c > 0 and bool(engine.ranking_rule(*pair)[0]):
                    return c
            elif float((masks - previous).abs().max()) < rules[rule]:
                return c
            previous = masks
        return len(trace) - 1

    def scores(row: Dict[str, Any], c: int) -> torch.Tensor:
        unit_values = row["trace"][c]
        return torch.where(
            row["units"] >= 0, unit_values[row["units"].clamp(min=0)], 0.0
        )

    def metric(attributions: List[torch.Tensor], chosen: List[Dict]) -> Dict:
        ids = torch.nn.utils.rnn.pad_sequence([r["ids"] for r in chosen], True)
        mask = torch.nn.utils.rnn.pad_sequence([r["mask"] for r in chosen], True)
        units = torch.nn.utils.rnn.pad_sequence(
            [r["units"] for r in chosen], True, padding_value=-1
        )
        attr = torch.nn.utils.rnn.pad_sequence(attributions, True)
        common = dict(
            feature_mask=units,
            target=torch.tensor([r["target"] for r in chosen]),
            additional_forward_args=(mask,),
            removal=Removal("pad", tokenizer=tokenizer),
            percents=ERASER,
        )
        with torch.no_grad():
            comp = aopc_comprehensiveness(forward, ids, attr, **common).mean
            suff = aopc_sufficiency(forward, ids, attr, **common).mean
        return {"comprehensiveness": comp, "sufficiency": suff}

    last = len(steps) - 1
    full = metric([scores(r, last) for r in rows], rows)
    results = {
        "machine": machine(),
        "date": today(),
        "n": len(rows),
        "steps": args.steps,
        "every": args.every,
        "full": full,
        "rules": {},
    }
    print(f"full {args.steps} steps: {full}")
    for rule in rules:
        stops = [stop_index(r, rule) for r in rows]
        taken = [min(steps[c], args.steps) for c in stops]
        change = [
            float((r["trace"][c] - r["trace"][last]).abs().max())
            for r, c in zip(rows, stops)
        ]
        rhos = [_spearman(r["trace"][c], r["trace"][last]) for r, c in zip(rows, stops)]
        values = metric([scores(r, c) for r, c in zip(rows, stops)], rows)
        entry = {
            "mean_steps": sum(taken) / len(taken),
            "steps_saved": 1 - sum(taken) / (len(taken) * args.steps),
            "stopped_early": sum(t < args.steps for t in taken) / len(taken),
            "max_mask_change_mean": sum(change) / len(change),
            "max_mask_change_max": max(change),
            "spearman_mean": sum(rhos) / len(rhos),
            **values,
        }
        results["rules"][rule] = entry
        print(rule, json.dumps(entry))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
        torch.save([r["trace"] for r in rows], args.out + ".traces.pt")


if __name__ == "__main__":
    main()
