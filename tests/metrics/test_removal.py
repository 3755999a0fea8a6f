from types import SimpleNamespace

import pytest
import torch

from captum_nlp_ext.metrics import Removal
from captum_nlp_ext.metrics._removal import (
    as_removal,
    deletion_source,
    evaluate_removed,
)

IDS = torch.tensor([[1, 5, 6, 7, 2, 0], [1, 8, 9, 2, 0, 0]])
ATTENTION = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 0]])
TYPES = torch.tensor([[0, 0, 1, 1, 1, 0], [0, 1, 1, 1, 0, 0]])
KEEP = torch.tensor(
    [[True, False, True, False, True, True], [True, True, False, True, True, True]]
)
TOKENIZER = SimpleNamespace(mask_token_id=103, pad_token_id=0, unk_token_id=100)


def test_delete_packs_left_and_moves_batch_by_token_arguments():
    flag = torch.tensor([7.0, 8.0])
    ids, (attention, types, scalar, per_example) = Removal().apply(
        IDS, KEEP, (ATTENTION, TYPES, 3, flag)
    )
    assert ids.tolist() == [[1, 6, 2, 0, 0, 0], [1, 8, 2, 0, 0, 0]]
    assert attention.tolist() == [[1, 1, 1, 0, 0, 0], [1, 1, 1, 0, 0, 0]]
    assert types.tolist() == [[0, 1, 1, 0, 0, 0], [0, 1, 1, 0, 0, 0]]
    assert scalar == 3 and per_example is flag


def test_delete_fills_freed_positions_with_the_fill_id():
    ids, _ = Removal("delete", token_id=9).apply(IDS, KEEP)
    assert ids.tolist() == [[1, 6, 2, 0, 9, 9], [1, 8, 2, 0, 0, 9]]


def test_delete_keeping_everything_or_nothing():
    assert deletion_source(torch.ones(1, 4, dtype=torch.bool)).tolist() == [
        [0, 1, 2, 3]
    ]
    assert deletion_source(torch.zeros(1, 4, dtype=torch.bool)).tolist() == [
        [-1, -1, -1, -1]
    ]


@pytest.mark.parametrize("mode,token_id", [("mask", 103), ("pad", 0), ("unk", 100)])
def test_replacement_modes_replace_in_place(mode, token_id):
    removal = Removal(mode, tokenizer=TOKENIZER)
    assert removal.token_id == token_id
    args = (ATTENTION, TYPES)
    ids, new_args = removal.apply(IDS, KEEP, args)
    expected = torch.where(KEEP, IDS, torch.full_like(IDS, token_id))
    assert torch.equal(ids, expected)
    assert new_args is args


def test_explicit_id_wins_over_tokenizer():
    assert Removal("mask", token_id=4, tokenizer=TOKENIZER).token_id == 4
    assert Removal("delete", tokenizer=TOKENIZER).token_id == 0


def test_bad_removals_are_refused_with_their_argument():
    with pytest.raises(ValueError, match="Removal\\('mask', tokenizer"):
        Removal("mask")
    with pytest.raises(ValueError, match="`mode`"):
        Removal("drop")
    with pytest.raises(ValueError, match="mask_token_id"):
        Removal("mask", tokenizer=SimpleNamespace(mask_token_id=None))
    with pytest.raises(ValueError, match="`token_id`"):
        Removal("unk", token_id=-1)
    with pytest.raises(TypeError, match="`removal`"):
        as_removal(3)
    assert as_removal("delete") == Removal()
    assert "mask" in repr(Removal("mask", token_id=4))


class Recorder:
    """A forward that returns one score per row and remembers its inputs."""

    def __init__(self):
        self.calls = []

    def __call__(self, ids, attention, types):
        self.calls.append((ids, attention, types))
        return (ids * 10 + attention + types).float().sum(dim=1, keepdim=True)


@pytest.mark.parametrize("removal", [Removal(), Removal("mask", token_id=4)])
def test_evaluate_removed_matches_apply_row_by_row(removal):
    # rows: example 0 twice, example 1 once, in internal batches of 2
    row_example = torch.tensor([0, 0, 1])
    row_keep = torch.stack([KEEP[0], torch.ones(6, dtype=torch.bool), KEEP[1]])
    recorder = Recorder()
    output = evaluate_removed(
        recorder,
        IDS,
        (ATTENTION, TYPES),
        row_example,
        lambda rows: row_keep[rows],
        removal,
        internal_batch_size=2,
    )
    assert len(recorder.calls) == 2
    for row in range(3):
        example = row_example[row : row + 1]
        ids, (attention, types) = removal.apply(
            IDS[example], row_keep[row : row + 1], (ATTENTION[example], TYPES[example])
        )
        assert output[row].item() == Recorder()(ids, attention, types).item()
