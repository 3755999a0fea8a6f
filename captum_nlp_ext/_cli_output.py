"""What ``captum-nlp explain`` prints: words and scores, with control
characters escaped so that user text cannot drive the terminal."""

import logging
from typing import Any, Dict, List

_LOG = logging.getLogger("captum_nlp_ext")


def printable(text: str) -> str:
    """``text`` with control characters (ANSI / OSC escapes...) shown escaped,
    so that user text cannot drive the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def colour_word(word: str, score: float) -> str:
    # ANSI 256-colour background: green supports the prediction, red opposes.
    level = min(5, int(abs(score) * 5.999))
    if level == 0:
        return word
    code = 16 + (36 * level if score < 0 else 6 * level)
    return f"\x1b[48;5;{code}m\x1b[38;5;16m{word}\x1b[0m"


def token_counts(tokenizer: Any, texts: List[str]) -> List[int]:
    """Tokens of each text untruncated, special tokens included."""
    # verbose=False: the caller warns about a cut text in its own words.
    encoded = tokenizer(
        [t.split() for t in texts], is_split_into_words=True, verbose=False
    )
    return [len(ids) for ids in encoded["input_ids"]]


def print_records(
    texts: List[str],
    methods: List[str],
    records: Dict[str, Any],
    counts: List[int],
    max_length: int,
    colour: bool,
) -> None:
    """Each text, its prediction and every method's word scores, on stdout;
    a warning on stderr for a text cut to ``max_length`` tokens, and for a fit
    too noisy to rank its words."""
    from captum_nlp_ext.attr._utils.nlgp import NOISY_FIT

    print(
        "Word scores of each method, divided by the row's largest magnitude "
        "(+ supports the predicted class, - opposes it)."
    )
    for i, text in enumerate(texts):
        first = records[methods[0]][i]
        print(f"\n[{i + 1}] {printable(text)}")
        print(
            f"    predicted {printable(str(first.pred_class))} "
            f"(p={first.pred_prob:.3f}), gold {printable(str(first.true_class))}"
        )
        if counts[i] > max_length:
            _LOG.warning(
                "text %d: kept %d of %d words (%d tokens, --max-length %d); use "
                "--max-length for more",
                i + 1,
                len(first.raw_input_ids),
                len(text.split()),
                counts[i],
                max_length,
            )
        for name in methods:
            r = records[name][i]
            score = r.convergence_score
            if score is not None and float(score) >= NOISY_FIT:
                _LOG.warning(
                    "text %d: the %s fit is too noisy to rank its words "
                    "(convergence estimate %.2f >= %.1f); raise --budget, or "
                    "--set %s.samples_per_unit=R for R samples a word",
                    i + 1,
                    name,
                    float(score),
                    NOISY_FIT,
                    name,
                )
            shown = [
                (
                    colour_word(printable(w), float(s))
                    if colour
                    else f"{printable(w)}({float(s):+.2f})"
                )
                for w, s in zip(r.raw_input_ids, r.word_attributions.tolist())
            ]
            print(f"    {name:>6}: " + " ".join(shown))
