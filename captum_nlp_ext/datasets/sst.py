"""Stanford Sentiment Treebank: GLUE SST-2 sentences and the SST phrase trees.

Label mappings:

* SST-2 (:func:`load_sst2`): 0 negative, 1 positive (:data:`SST2_LABELS`).
* SST trees (:func:`load_sst`): ``fine_label`` and every phrase/leaf label is the
  fine sentiment 0-4 (:data:`SST_FINE_LABELS`); ``label`` is the binary view
  0 negative (fine 0, 1), 1 positive (fine 3, 4), None for neutral (fine 2).
"""

import re
from typing import NamedTuple, Optional, Sequence

from ._paths import PathLike, require_file
from .records import _check_limit, _check_split, PhraseSpan, TextExample

SST2_LABELS: tuple[str, ...] = ("negative", "positive")
SST_FINE_LABELS: tuple[str, ...] = (
    "very negative",
    "negative",
    "neutral",
    "positive",
    "very positive",
)

# The trees escape brackets and slashes the PTB way; the GLUE SST-2 text (and any
# tokenizer) expects the plain characters.
_PTB_UNESCAPE = {
    "-LRB-": "(",
    "-RRB-": ")",
    "-LSB-": "[",
    "-RSB-": "]",
    "-LCB-": "{",
    "-RCB-": "}",
}
_TREE_TOKEN = re.compile(r"\(|\)|[^ \t\r\n()]+")


class ParsedTree(NamedTuple):
    """Result of :func:`parse_sst_tree`.

    Args:
        words (tuple of str): The leaves, left to right.
        leaf_labels (tuple of int): The label of each leaf.
        phrases (tuple of PhraseSpan): One span per internal node, pre-order
            (the root first), ``end`` exclusive.
        root_label (int): The label of the root node.
    """

    words: tuple[str, ...]
    leaf_labels: tuple[int, ...]
    phrases: tuple[PhraseSpan, ...]
    root_label: int


def unescape_ptb(word: str) -> str:
    """Undo PTB escaping of one word (``-LRB-`` -> ``(``, ``\\/`` -> ``/``).

    Args:
        word (str): A leaf of an SST tree.

    Returns:
        str: The word as it appears in plain text.
    """
    return _PTB_UNESCAPE.get(word, word).replace("\\/", "/").replace("\\*", "*")


def parse_sst_tree(line: str, unescape: bool = True) -> ParsedTree:
    """Parse one PTB bracketed sentiment tree such as ``(3 (2 It) (4 works))``.

    Every node is ``(LABEL CHILD ...)`` where a child is a node or, for a leaf,
    a single word. Labels must be integers.

    Args:
        line (str): The bracketed tree.
        unescape (bool, optional): Apply :func:`unescape_ptb` to the words.
            Default: True.

    Returns:
        ParsedTree: Words, leaf labels, internal-node phrase spans, root label.

    Raises:
        ValueError: The text is not a single well-formed tree.
    """
    tokens = _TREE_TOKEN.findall(line)
    words: list[str] = []
    leaf_labels: list[int] = []
    phrases: list[Optional[PhraseSpan]] = []

    def fail(position: int, why: str) -> ValueError:
        return ValueError(f"malformed tree ({why} at token {position}): {line!r}")

    def parse_node(pos: int) -> tuple[int, int]:
        # Returns (position after the node, its label). Recursion depth equals
        # tree depth, which stays far below Python's limit for sentences.
        if pos >= len(tokens) or tokens[pos] != "(":
            raise fail(pos, "expected '('")
        if pos + 1 >= len(tokens) or tokens[pos + 1] in ("(", ")"):
            raise fail(pos + 1, "expected a label")
        try:
            label = int(tokens[pos + 1])
        except ValueError:
            raise fail(pos + 1, "label is not an integer") from None
        pos += 2
        if pos < len(tokens) and tokens[pos] not in ("(", ")"):
            words.append(unescape_ptb(tokens[pos]) if unescape else tokens[pos])
            leaf_labels.append(label)
            pos += 1
        else:
            start = len(words)
            slot = len(phrases)
            phrases.append(None)  # reserved so that the parent precedes children
            if pos >= len(tokens) or tokens[pos] != "(":
                raise fail(pos, "node has no children")
            while pos < len(tokens) and tokens[pos] == "(":
                pos, _ = parse_node(pos)
            phrases[slot] = PhraseSpan(start, len(words), label)
        if pos >= len(tokens) or tokens[pos] != ")":
            raise fail(pos, "expected ')'")
        return pos + 1, label

    end, root_label = parse_node(0)
    if end != len(tokens):
        raise fail(end, "text after the root node")
    return ParsedTree(
        tuple(words),
        tuple(leaf_labels),
        tuple(p for p in phrases if p is not None),
        root_label,
    )


def sst_binary_label(fine_label: int) -> Optional[int]:
    """Map a fine SST label 0-4 to the SST-2 binary label.

    Args:
        fine_label (int): 0-4.

    Returns:
        int or None: 0 for 0-1, 1 for 3-4, None for the neutral 2.
    """
    if fine_label not in range(5):
        raise ValueError(f"SST labels are 0-4, got {fine_label}")
    return None if fine_label == 2 else int(fine_label > 2)


def centred_word_sentiment(
    scores: Sequence[float], absolute: bool = True
) -> tuple[float, ...]:
    """Centre SST word sentiments (0-4) on neutral, as LAFA's Pearson protocol does.

    ``centred = (score - 2) / 2`` lies in [-1, 1] (-1 very negative, 0 neutral,
    1 very positive). The gold importance of a word is ``|centred|``: how strongly
    it carries sentiment, whatever the direction.

    Args:
        scores (Sequence of float): Word sentiments 0-4, e.g.
            ``TextExample.word_scores`` from :func:`load_sst`.
        absolute (bool, optional): Return ``|centred|`` (gold importance) rather
            than the signed value. Default: True.

    Returns:
        tuple of float: One value per word.
    """
    centred = tuple((float(s) - 2.0) / 2.0 for s in scores)
    return tuple(abs(c) for c in centred) if absolute else centred


def load_sst2(
    split: str = "dev", data_dir: Optional[PathLike] = None, limit: Optional[int] = None
) -> list[TextExample]:
    """Load GLUE SST-2 (``sst2/{split}.tsv``): lower-cased PTB-tokenised text.

    Words are the whitespace-separated tokens of the ``sentence`` column. Labels:
    0 negative, 1 positive. ``example_id`` is ``"sst2-{split}-{row}"``.

    Args:
        split (str, optional): ``"dev"`` (872 sentences) or ``"train"`` (67,349
            phrases). Default: ``"dev"``.
        data_dir (str or os.PathLike, optional): Data folder. Default: None
            (``CAPTUM_NLP_DATA`` or ``../shared/data``).
        limit (int, optional): Keep only the first ``limit`` rows. Default: None.

    Returns:
        list of TextExample: In file order.

    Raises:
        FileNotFoundError: The TSV is missing (names it and ``CAPTUM_NLP_DATA``).
        ValueError: Bad split, or a malformed row.
    """
    _check_split(split, ("dev", "train"))
    _check_limit(limit)
    path = require_file(data_dir, f"sst2/{split}.tsv")
    examples: list[TextExample] = []
    # Plain splitting, not the csv module: sentences contain quote characters
    # that must not be interpreted.
    with open(path, encoding="utf-8", newline="") as handle:
        header = handle.readline().rstrip("\r\n")
        if header.split("\t") != ["sentence", "label"]:
            raise ValueError(f"{path}: unexpected header {header!r}")
        for line_no, line in enumerate(handle, start=2):
            if limit is not None and len(examples) >= limit:
                break
            line = line.rstrip("\r\n")
            if not line:
                continue
            sentence, _, label = line.rpartition("\t")
            if label not in ("0", "1"):
                raise ValueError(f"{path}:{line_no}: bad label {label!r}")
            examples.append(
                TextExample(
                    words=sentence.split(),
                    label=int(label),
                    example_id=f"sst2-{split}-{len(examples)}",
                )
            )
    return examples


def load_sst(
    split: str = "dev",
    data_dir: Optional[PathLike] = None,
    limit: Optional[int] = None,
    unescape: bool = True,
) -> list[TextExample]:
    """Load the SST phrase trees (``sst_trees/{split}.txt``), one tree a line.

    Each record has ``words`` = the leaves (original case; PTB escapes undone
    unless ``unescape=False``), ``word_scores`` = each leaf's sentiment 0-4 as
    float (see :func:`centred_word_sentiment` for the gold importance),
    ``phrases`` = every internal node as ``PhraseSpan(start, end, label)``
    (pre-order, root first), ``fine_label`` = the root's 0-4 label and ``label``
    = its binary view (0 negative, 1 positive, None for neutral roots).
    ``example_id`` is ``"sst-{split}-{line}"``, the 0-based line number.

    Args:
        split (str, optional): ``"dev"`` (1,101 trees) or ``"train"`` (8,544).
            Default: ``"dev"``.
        data_dir (str or os.PathLike, optional): Data folder. Default: None.
        limit (int, optional): Keep only the first ``limit`` trees. Default: None.
        unescape (bool, optional): Undo ``-LRB-``/``-RRB-``/``\\/`` escapes.
            Default: True.

    Returns:
        list of TextExample: In file order.

    Raises:
        FileNotFoundError: The file is missing (names it and ``CAPTUM_NLP_DATA``).
        ValueError: Bad split, or a malformed tree.
    """
    _check_split(split, ("dev", "train"))
    _check_limit(limit)
    path = require_file(data_dir, f"sst_trees/{split}.txt")
    examples: list[TextExample] = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle):
            if limit is not None and len(examples) >= limit:
                break
            if not line.strip():
                continue
            tree = parse_sst_tree(line, unescape=unescape)
            examples.append(
                TextExample(
                    words=tree.words,
                    label=sst_binary_label(tree.root_label),
                    example_id=f"sst-{split}-{line_no}",
                    word_scores=tree.leaf_labels,
                    fine_label=tree.root_label,
                    phrases=tree.phrases,
                )
            )
    return examples
