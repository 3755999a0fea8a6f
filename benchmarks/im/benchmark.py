"""Input marginalization on SST-2 dev with the real MiniLM classifier and MLM.

Measures, for :class:`captum_nlp_ext.attr.LayerInputMarginalization`
(token-level units, the predicted class, internal batches of ``--batch``):

1. Classifier rows a token costs under each candidate rule: the 1e-5 threshold
   of the paper's reimplementations, and cumulative-mass and top-k cut-offs
   (each on top of the threshold), counted from the MLM's distributions on
   ``--sentences`` dev sentences (MLM passes only; the counts do not depend on
   the classifier).
2. Fidelity: a straightforward per-position implementation of the formula
   (one position at a time: one MLM pass, then its candidates) computes the
   thresholded result on ``--fidelity-sentences`` short sentences and keeps
   every candidate's classifier probability, so that each pruned rule's result
   (its candidates are the most likely of the thresholded ones) follows from
   them. The class runs the cheaper rules itself, batched; its attributions are
   compared with the formula's and ranked against the thresholded ones
   (Spearman).
3. The naive implementation against the class under the same rule
   (``--rule-mass``): same rows, wall time.
4. Overhead: the class's wall time against bare batched passes of the same MLM
   and classifier rows, under the rule of 3.

Run from the repository root (under 10 minutes on one CPU core at the
defaults; the thresholded reference costs thousands of classifier rows a token,
so ``--fidelity-sentences 40 --min-tokens 6 --max-tokens 9``, 311 tokens, takes
hours)::

    python -m benchmarks.im.benchmark

Writes ``benchmarks/im/RESULTS.md`` (``--out``).
"""

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from benchmarks.common import machine, sst2_model_and_sentences, timed, today
from scipy.stats import spearmanr

from captum_nlp_ext.attr import LayerInputMarginalization
from captum_nlp_ext.datasets import resolve_models_dir
from captum_nlp_ext.huggingface import (
    ClassifierForward,
    get_embedding_layer,
    token_feature_mask,
)

THRESHOLD = 1e-5
Rule = Tuple[Optional[float], Optional[int]]
THRESHOLDED: Rule = (None, None)
RULES: List[Rule] = [
    THRESHOLDED,
    (0.5, None),
    (0.7, None),
    (0.75, None),
    (0.8, None),
    (0.9, None),
    (0.95, None),
    (None, 50),
    (None, 200),
]
CLASS_RULES: List[Rule] = [(0.5, None), (0.75, None), (None, 50)]


def load():
    """Classifier, tokenizer, MLM and the SST-2 dev sentences."""
    from transformers import AutoModelForMaskedLM

    classifier, tokenizer, examples = sst2_model_and_sentences(None)
    mlm = AutoModelForMaskedLM.from_pretrained(resolve_models_dir() / "minilm-mlm")
    return tokenizer, classifier, mlm.eval(), [" ".join(e.words) for e in examples]


def rule_name(rule: Rule) -> str:
    mass, top_k = rule
    if mass is not None:
        return f"mass {mass}"
    if top_k is not None:
        return f"top-{top_k}"
    return f"threshold {THRESHOLD:g}"


def ranked_candidates(
    mlm_logits: torch.Tensor, specials: List[int]
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The MLM distribution renormalized over the allowed (non-special) tokens,
    sorted by decreasing probability: (probabilities, token ids)."""
    logits = mlm_logits.to(torch.float64).clone()
    logits[..., specials] = -math.inf
    return logits.softmax(dim=-1).sort(dim=-1, descending=True)


def kept(values: torch.Tensor, rule: Rule) -> int:
    """How many of the sorted candidates a rule keeps, as the class documents:
    above the threshold, within top-k, while the mass before a candidate is
    below ``mass``; at least one. Each condition keeps a prefix."""
    mass, top_k = rule
    keep = values > THRESHOLD
    if top_k is not None:
        keep[top_k:] = False
    if mass is not None:
        keep &= values.cumsum(0) - values < mass
    keep[0] = True
    return int(keep.sum())


def log2_odds(p: float) -> float:
    p = min(max(p, 1e-7), 1 - 1e-7)
    return math.log2(p / (1 - p))


class NaiveIM:
    """The formula, one position of one unpadded sentence at a time."""

    def __init__(self, classifier, mlm, tokenizer, batch: int) -> None:
        self.classifier = classifier
        self.mlm = mlm
        self.mask_id = tokenizer.mask_token_id
        self.specials = tokenizer.all_special_ids
        self.batch = batch

    def __call__(self, ids: torch.Tensor, rule: Rule):
        """Per token between [CLS] and [SEP]: the kept candidates' MLM
        probabilities and ids, the original token and the candidates'
        classifier probabilities; and p(c | x), passes."""
        with torch.no_grad():
            p0 = self.classifier(ids[None]).logits.double().softmax(-1)[0]
            target = int(p0.argmax())
            positions = []
            passes = dict(classifier_rows=1, classifier_passes=1, mlm_passes=0)
            for i in range(1, ids.shape[0] - 1):
                masked = ids.clone()
                masked[i] = self.mask_id
                logits = self.mlm(masked[None]).logits[0, i]
                values, tokens = ranked_candidates(logits, self.specials)
                count = kept(values, rule)
                sentences = ids.repeat(count, 1)
                sentences[:, i] = tokens[:count]
                chunks = sentences.split(self.batch)
                scores = torch.cat(
                    [
                        self.classifier(chunk).logits.double().softmax(-1)[:, target]
                        for chunk in chunks
                    ]
                )
                passes["mlm_passes"] += 1
                passes["classifier_rows"] += count
                passes["classifier_passes"] += len(chunks)
                positions.append((values[:count], tokens[:count], ids[i], scores))
            return positions, float(p0[target]), passes


def woe_under(positions, p0: float, rule: Rule) -> List[float]:
    """The WoE of each token under a rule, from the thresholded candidates."""
    woe = []
    for values, _, _, scores in positions:
        count = kept(values, rule)
        weights = values[:count] / values[:count].sum()
        q = float((weights * scores[:count]).sum())
        woe.append(log2_odds(p0) - log2_odds(q))
    return woe


def count_rows(tokenizer, mlm, sentences: Sequence[str], batch: int) -> Dict:
    """Candidates a token under every rule, and how often the original token is
    one of them, from batched MLM passes."""
    counts: Dict[Rule, List[int]] = {rule: [] for rule in RULES}
    originals: Dict[Rule, int] = {rule: 0 for rule in RULES}
    with torch.no_grad():
        for start in range(0, len(sentences), 8):
            enc = tokenizer(
                list(sentences[start : start + 8]), padding=True, return_tensors="pt"
            )
            ids, attention = enc["input_ids"], enc["attention_mask"]
            example, position = (token_feature_mask(enc) >= 0).nonzero(as_tuple=True)
            masked = ids[example].clone()
            masked[torch.arange(len(example)), position] = tokenizer.mask_token_id
            for chunk in torch.arange(len(example)).split(batch):
                logits = mlm(masked[chunk], attention[example[chunk]]).logits
                at = logits[torch.arange(len(chunk)), position[chunk]]
                values, tokens = ranked_candidates(at, tokenizer.all_special_ids)
                original = ids[example[chunk], position[chunk]]
                for j in range(len(chunk)):
                    for rule in RULES:
                        count = kept(values[j], rule)
                        counts[rule].append(count)
                        originals[rule] += int((tokens[j, :count] == original[j]).any())
    return {rule: (np.array(counts[rule]), originals[rule]) for rule in RULES}


def bare_passes(classifier, mlm, tokenizer, enc, rule: Rule, batch: int) -> Dict:
    """Time the MLM passes over the masked copies and the classifier passes
    over the rows the class evaluates (the inputs, then every candidate
    sentence but the input itself), in the same batches, timing nothing
    else."""
    ids, attention = enc["input_ids"], enc["attention_mask"]
    example, position = (token_feature_mask(enc) >= 0).nonzero(as_tuple=True)
    masked = ids[example].clone()
    masked[torch.arange(len(example)), position] = tokenizer.mask_token_id
    sentences, masks = [ids], [attention]
    mlm_seconds = 0.0
    with torch.no_grad():
        for chunk in torch.arange(len(example)).split(batch):
            start = time.perf_counter()
            logits = mlm(masked[chunk], attention[example[chunk]]).logits
            mlm_seconds += time.perf_counter() - start
            at = logits[torch.arange(len(chunk)), position[chunk]]
            values, tokens = ranked_candidates(at, tokenizer.all_special_ids)
            for j, row in enumerate(chunk.tolist()):
                b, t = int(example[row]), int(position[row])
                chosen = tokens[j, : kept(values[j], rule)]
                chosen = chosen[chosen != ids[b, t]]
                rows = ids[b].repeat(chosen.numel(), 1)
                rows[:, t] = chosen
                sentences.append(rows)
                masks.append(attention[b].expand_as(rows))
        copies, copy_masks = torch.cat(sentences), torch.cat(masks)
        start = time.perf_counter()
        classifier(ids, attention_mask=attention)
        for chunk in torch.arange(ids.shape[0], copies.shape[0]).split(batch):
            classifier(copies[chunk], attention_mask=copy_masks[chunk])
        classifier_seconds = time.perf_counter() - start
    return dict(
        mlm_rows=len(example),
        mlm_seconds=mlm_seconds,
        classifier_rows=copies.shape[0],
        classifier_seconds=classifier_seconds,
    )


def short_sentences(tokenizer, sentences, n: int, low: int, high: int) -> List[str]:
    """The first ``n`` dev sentences of ``low`` to ``high`` tokens."""
    lengths = [len(tokenizer(s)["input_ids"]) - 2 for s in sentences]
    return [s for s, n_ in zip(sentences, lengths) if low <= n_ <= high][:n]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(spearmanr(a, b).statistic)


def main() -> None:
    global THRESHOLD
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=50)
    parser.add_argument("--fidelity-sentences", type=int, default=2)
    parser.add_argument("--min-tokens", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=4)
    parser.add_argument("--rule-mass", type=float, default=0.5)
    parser.add_argument("--threshold", type=float, default=THRESHOLD)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    # One thread: on a shared 2-core machine two OpenMP threads wait on each
    # other and ran up to 10x slower.
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--out", default=str(Path(__file__).resolve().parent / "RESULTS.md")
    )
    options = parser.parse_args()
    THRESHOLD = options.threshold
    torch.set_num_threads(options.threads)
    tokenizer, classifier, mlm, sentences = load()
    started = time.perf_counter()
    report: List[str] = []
    say = report.append

    # 1. Rows a token costs under each rule.
    counted = count_rows(tokenizer, mlm, sentences[: options.sentences], options.batch)
    thresholded = int(counted[THRESHOLDED][0].sum())
    say(
        f"## 1. Classifier rows a token costs (first {options.sentences} SST-2 dev "
        f"sentences, {counted[THRESHOLDED][0].size} tokens)\n"
    )
    say(
        f"Every rule includes the {THRESHOLD:g} threshold. The naive implementation "
        "evaluates every candidate; the class skips a candidate equal to the input "
        "(its probability is the unperturbed one).\n"
    )
    say("| rule | candidates a token: mean | median | max | class rows | fewer |")
    say("|---|---|---|---|---|---|")
    for rule, (counts, originals) in counted.items():
        rows = int(counts.sum()) - originals
        say(
            f"| {rule_name(rule)} | {counts.mean():.0f} | {np.median(counts):.0f} | "
            f"{counts.max()} | {rows} | {thresholded / rows:.1f}x |"
        )
    say(
        "\n`fewer`: rows of the naive thresholded implementation "
        f"({thresholded}) / the class's rows under the rule."
    )

    # 2. Fidelity on short sentences.
    short = short_sentences(
        tokenizer,
        sentences,
        options.fidelity_sentences,
        options.min_tokens,
        options.max_tokens,
    )
    enc = tokenizer(short, padding=True, return_tensors="pt")
    ids, attention = enc["input_ids"], enc["attention_mask"]
    feature_mask = token_feature_mask(enc)
    lengths = attention.sum(1).tolist()
    naive = NaiveIM(classifier, mlm, tokenizer, options.batch)
    naive_runs, naive_seconds = [], 0.0
    naive_passes = dict(classifier_rows=0, classifier_passes=0, mlm_passes=0)
    for i, length in enumerate(lengths):
        seconds, result = timed(lambda: naive(ids[i, :length], THRESHOLDED))
        naive_runs.append(result)
        naive_seconds += seconds
        # The thresholded reference is the long part (hours for 300 tokens).
        print(
            f"reference: sentence {i + 1}/{len(lengths)}, {seconds:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        for key in naive_passes:
            naive_passes[key] += result[2][key]
    formula = {
        rule: [woe_under(positions, p0, rule) for positions, p0, _ in naive_runs]
        for rule in RULES
    }
    im = LayerInputMarginalization(
        ClassifierForward(classifier),
        get_embedding_layer(classifier),
        mlm,
        tokenizer=tokenizer,
        mlm_batch_size=options.batch,
    )

    def run(rule: Rule):
        return timed(
            lambda: im.attribute(
                ids,
                additional_forward_args=(attention,),
                feature_mask=feature_mask,
                threshold=THRESHOLD,
                mass=rule[0],
                top_k=rule[1],
                internal_batch_size=options.batch,
                return_passes=True,
            )
        )

    ran = {rule: run(rule) for rule in CLASS_RULES}
    n_tokens = int((feature_mask >= 0).sum())
    say(
        f"\n## 2. Fidelity against the thresholded result ({len(short)} SST-2 dev "
        f"sentences of {options.min_tokens}-{options.max_tokens} tokens, {n_tokens} "
        "tokens)\n"
    )
    say("Sentences: " + " / ".join(f"`{s}`" for s in short) + "\n")
    say(
        f"The naive thresholded run: {naive_passes['classifier_rows']} classifier "
        f"rows in {naive_passes['classifier_passes']} passes, "
        f"{naive_passes['mlm_passes']} MLM passes, {naive_seconds:.1f} s. Rules "
        "marked * were run by the class (rows, passes and seconds measured, "
        "`class - formula` its largest difference from the naive formula); the "
        "others' attributions follow from the naive run's candidates.\n"
    )
    say(
        "| rule | class rows | fewer rows | class passes | seconds | less time | "
        "Spearman a sentence (mean, min) | Spearman pooled | max abs diff (bits) "
        "| class - formula (bits) |"
    )
    say("|---|---|---|---|---|---|---|---|---|---|")
    reference = np.concatenate(formula[THRESHOLDED])
    for rule in RULES:
        values = np.concatenate(formula[rule])
        per_sentence = [
            spearman(np.array(a), np.array(b))
            for a, b in zip(formula[THRESHOLDED], formula[rule])
        ]
        # Cells of the table: "-" where the rule was not run.
        n_rows: object = "-"
        n_passes: object = "-"
        took_cell = less = check = "-"
        if rule in ran:
            took, (attributions, used) = ran[rule]
            mine = attributions[feature_mask >= 0].numpy()
            n_rows, n_passes = used["classifier_rows"], used["classifier_passes"]
            took_cell, less = f"{took:.1f}", f"{naive_seconds / took:.1f}x"
            check = f"{np.abs(mine - values).max():.1e}"
            rule_label = rule_name(rule) + " *"
        else:
            rule_label = rule_name(rule)
            n_rows = len(short) + sum(
                count - int(bool((tokens[:count] == original).any()))
                for positions, _, _ in naive_runs
                for values, tokens, original, _ in positions
                for count in [kept(values, rule)]
            )
        fewer = (
            f"{naive_passes['classifier_rows'] / n_rows:.1f}x"
            if isinstance(n_rows, int)
            else "-"
        )
        say(
            f"| {rule_label} | {n_rows} | {fewer} | {n_passes} | {took_cell} | "
            f"{less} | "
            f"{np.mean(per_sentence):.3f}, {np.min(per_sentence):.3f} | "
            f"{spearman(reference, values):.3f} | "
            f"{np.abs(reference - values).max():.3f} | {check} |"
        )

    # 3. Naive against the class under the same rule.
    rule = (options.rule_mass, None)
    naive_same = dict(classifier_rows=0, classifier_passes=0, mlm_passes=0)
    naive_same_seconds = 0.0
    for i, length in enumerate(lengths):
        seconds, (_, _, used) = timed(lambda: naive(ids[i, :length], rule))
        naive_same_seconds += seconds
        for key in naive_same:
            naive_same[key] += used[key]
    seconds, (attributions, used) = ran[rule] if rule in ran else run(rule)
    say(f"\n## 3. Naive per-position implementation and the class, {rule_name(rule)}\n")
    say("| implementation | classifier rows | passes | MLM passes | seconds |")
    say("|---|---|---|---|---|")
    say(
        f"| naive | {naive_same['classifier_rows']} | "
        f"{naive_same['classifier_passes']} | {naive_same['mlm_passes']} | "
        f"{naive_same_seconds:.1f} |"
    )
    say(
        f"| LayerInputMarginalization | {used['classifier_rows']} | "
        f"{used['classifier_passes']} | {used['mlm_passes']} | {seconds:.1f} |"
    )
    say(f"\nSpeed-up {naive_same_seconds / seconds:.2f}x.")

    # 4. Overhead against bare passes of the same rows, best of interleaved runs.
    bares, classes = [], []
    for _ in range(options.repeats):
        bares.append(bare_passes(classifier, mlm, tokenizer, enc, rule, options.batch))
        classes.append(run(rule))
    bare = min(bares, key=lambda b: b["mlm_seconds"] + b["classifier_seconds"])
    bare_total = bare["mlm_seconds"] + bare["classifier_seconds"]
    seconds, (_, used) = min(classes, key=lambda c: c[0])
    assert bare["classifier_rows"] == used["classifier_rows"]
    say(
        f"\n## 4. Overhead against bare batched passes, {rule_name(rule)} (best of "
        f"{options.repeats} interleaved runs)\n"
    )
    say("| what | MLM rows | classifier rows | seconds |")
    say("|---|---|---|---|")
    say(f"| bare MLM passes | {bare['mlm_rows']} | - | {bare['mlm_seconds']:.2f} |")
    say(
        f"| bare classifier passes | - | {bare['classifier_rows']} | "
        f"{bare['classifier_seconds']:.2f} |"
    )
    say(
        f"| LayerInputMarginalization | {used['mlm_rows']} | "
        f"{used['classifier_rows']} | {seconds:.2f} |"
    )
    say(
        f"\nOverhead ratio {seconds / bare_total:.3f} (class / bare MLM and "
        "classifier passes of the same rows)."
    )
    say(f"\nTotal benchmark time {time.perf_counter() - started:.0f} s.")
    write(options, report)


def write(options, report: List[str]) -> None:
    header = [
        "# Input marginalization: cost and fidelity on SST-2 dev\n",
        f"- Date: {today()}",
        f"- Machine: {machine()}; shared with other jobs, so compare ratios "
        "within one run",
        "- Models: minilm-sst2 (classifier), minilm-mlm (masked LM), from "
        "`CAPTUM_NLP_MODELS` or ../shared/models; data from `CAPTUM_NLP_DATA` or "
        "../shared/data",
        "- Command: `" + " ".join(["python"] + sys.argv) + "`\n",
    ]
    text = "\n".join(header + report) + "\n"
    Path(options.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
