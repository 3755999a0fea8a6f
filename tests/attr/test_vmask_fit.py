"""VMaskClassifier.fit made resumable: a fit killed after any epoch and run
again from its checkpoint ends where the uninterrupted fit ends; a hook after
each epoch can stop it (early stopping on held-out data)."""

import pytest
import torch
from torch.utils.data import DataLoader

from captum_nlp_ext.attr import BetaSchedule, VMaskClassifier, VMaskFitSettings
from captum_nlp_ext.testing import planted_keyword_task, tiny_bert_classifier

SPECIALS = [0, 1, 2]
SETTINGS = VMaskFitSettings(lr=1e-3, mask_lr=3e-2, beta=BetaSchedule(every=2))


def same(history, expected, rel=1e-6):
    assert len(history) == len(expected)
    for got, want in zip(history, expected):
        assert got == pytest.approx(want, rel=rel)


@pytest.fixture(scope="module")
def task():
    return planted_keyword_task(n=64, seed=2)


def shuffled(task):
    """Batches in a new order each epoch, drawn from torch's generator (the
    fit's own random state): what resuming must reproduce."""

    def collate(rows):
        index = torch.tensor(rows)
        return {
            "input_ids": task.input_ids[index],
            "attention_mask": task.attention_mask[index],
            "labels": task.labels[index],
        }

    return DataLoader(list(range(len(task))), 16, shuffle=True, collate_fn=collate)


def fresh(task):
    model = tiny_bert_classifier(task.vocab_size, seed=0)
    return VMaskClassifier(model, special_token_ids=SPECIALS, seed=0)


class Killed(Exception):
    pass


def test_a_killed_fit_continues_as_the_uninterrupted_one(task, tmp_path):
    whole = fresh(task)
    expected = whole.fit(
        shuffled(task), epochs=4, settings=SETTINGS, checkpoint=tmp_path / "a.pt"
    )

    def kill_after_second(record):
        if record["epoch"] == 1:
            raise Killed

    with pytest.raises(Killed):
        fresh(task).fit(
            shuffled(task),
            epochs=4,
            settings=SETTINGS,
            checkpoint=tmp_path / "b.pt",
            on_epoch_end=kill_after_second,
        )
    resumed = fresh(task)
    history = resumed.fit(
        shuffled(task), epochs=4, settings=SETTINGS, checkpoint=tmp_path / "b.pt"
    )
    assert [h["epoch"] for h in history] == [0, 1, 2, 3]
    same(history, expected)
    for (name, got), (_, want) in zip(
        resumed.state_dict().items(), whole.state_dict().items()
    ):
        assert torch.allclose(got, want, atol=1e-6), name
    assert [h["beta"] for h in history] == pytest.approx([1.0, 1.0, 0.901, 0.901])
    assert not resumed.training


def test_a_fit_stopped_by_its_hook_stays_stopped(task, tmp_path):
    seen = []

    def stop_at_second(record):
        seen.append(record["epoch"])
        return record["epoch"] == 1

    vmask = fresh(task)
    history = vmask.fit(
        shuffled(task),
        epochs=5,
        settings=SETTINGS,
        checkpoint=tmp_path / "fit.pt",
        on_epoch_end=stop_at_second,
    )
    assert len(history) == 2 and seen == [0, 1]
    weights = {k: v.clone() for k, v in vmask.state_dict().items()}
    again = fresh(task)
    same(
        again.fit(
            shuffled(task), epochs=5, settings=SETTINGS, checkpoint=tmp_path / "fit.pt"
        ),
        history,
    )
    assert all(torch.equal(v, weights[k]) for k, v in again.state_dict().items())


def test_a_checkpoint_of_another_fit_is_refused(task, tmp_path):
    path = tmp_path / "fit.pt"
    fresh(task).fit(shuffled(task), settings=SETTINGS, checkpoint=path)
    with pytest.raises(ValueError, match="`checkpoint`.*lr"):
        fresh(task).fit(
            shuffled(task), settings=VMaskFitSettings(lr=2e-3), checkpoint=path
        )
    with pytest.raises(ValueError, match="`checkpoint`.*seed"):
        fresh(task).fit(shuffled(task), settings=SETTINGS, checkpoint=path, seed=1)
    (tmp_path / "other.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="`checkpoint` .* cannot be read"):
        fresh(task).fit(shuffled(task), checkpoint=tmp_path / "other.pt")
    torch.save({"format": "something else"}, tmp_path / "else.pt")
    with pytest.raises(ValueError, match="not a VMASK fit checkpoint"):
        fresh(task).fit(shuffled(task), checkpoint=tmp_path / "else.pt")


def test_more_epochs_continue_a_finished_fit(task, tmp_path):
    path = tmp_path / "fit.pt"
    first = fresh(task).fit(
        shuffled(task), epochs=2, settings=SETTINGS, checkpoint=path
    )
    longer = fresh(task).fit(
        shuffled(task), epochs=3, settings=SETTINGS, checkpoint=path
    )
    whole = fresh(task).fit(shuffled(task), epochs=3, settings=SETTINGS)
    same(longer[:2], first)
    same(longer, whole)


def test_the_old_keywords_still_work_until_0_3(task):
    batches = task.sampled_batches(3, 16, 0, labels=True)
    with pytest.warns(FutureWarning, match="VMaskClassifier.fit.*settings"):
        old = fresh(task).fit(batches, lr=1e-3, mask_lr=3e-2, beta=0.5)
    settings = VMaskFitSettings(lr=1e-3, mask_lr=3e-2, beta=0.5)
    new = fresh(task).fit(batches, settings=settings)
    same(old, new)
    with pytest.raises(TypeError, match="inside `settings`"):
        fresh(task).fit(batches, lr=1e-3, settings=SETTINGS)
