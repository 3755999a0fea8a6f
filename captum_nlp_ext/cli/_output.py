"""What ``captum-nlp explain`` prints: words and scores, with control
characters escaped so that user text cannot drive the terminal."""

import logging
from typing import Any, Dict, List

from captum_nlp_ext._utils.text import printable

_LOG = logging.getLogger("captum_nlp_ext")


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


def explain_warnings(
    texts: List[str],
    methods: List[str],
    records: Dict[str, Any],
    counts: List[int],
    max_length: int,
) -> List[str]:
    """What a person must know about the explanations: a text cut to
    ``max_length`` tokens, a fit too noisy to rank its words (numbered from 1,
    as printed)."""
    from captum_nlp_ext.attr import LayerNLGP

    out = []
    for i, text in enumerate(texts):
        first = records[methods[0]][i]
        if counts[i] > max_length:
            out.append(
                f"text {i + 1}: kept {len(first.raw_input_ids)} of "
                f"{len(text.split())} words ({counts[i]} tokens, --max-length "
                f"{max_length}); use --max-length for more"
            )
        noisy = LayerNLGP.NOISY_FIT
        for name in methods:
            score = records[name][i].convergence_score
            if score is not None and float(score) >= noisy:
                out.append(
                    f"text {i + 1}: the {name} fit is too noisy to rank its words "
                    f"(convergence estimate {float(score):.2f} >= {noisy:.1f}); "
                    f"raise --budget, or --set {name}.samples_per_unit=R for R "
                    "samples a word"
                )
    return out


def print_records(
    texts: List[str],
    methods: List[str],
    records: Dict[str, Any],
    warnings: List[str],
    colour: bool,
) -> None:
    """Each text, its prediction and every method's word scores, on stdout;
    ``warnings`` (:func:`explain_warnings`) on stderr."""
    print(
        "Word scores of each method, divided by the row's largest magnitude "
        "(+ supports the predicted class, - opposes it)."
    )
    if colour:
        print(
            "Background: "
            + colour_word("green", 1.0)
            + " supports, "
            + colour_word("red", -1.0)
            + " opposes; the stronger the colour, the larger the score."
        )
    for i, text in enumerate(texts):
        first = records[methods[0]][i]
        print(f"\n[{i + 1}] {printable(text)}")
        print(
            f"    predicted {printable(str(first.pred_class))} "
            f"(p={first.pred_prob:.3f}), gold {printable(str(first.true_class))}"
        )
        for name in methods:
            r = records[name][i]
            shown = [
                (colour_word(printable(w), float(s)) if colour else printable(w))
                + f"({float(s):+.2f})"
                for w, s in zip(r.raw_input_ids, r.word_attributions.tolist())
            ]
            print(f"    {name:>6}: " + " ".join(shown))
    for warning in warnings:
        _LOG.warning("%s", warning)
