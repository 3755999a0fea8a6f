"""The metric suite's own sanity test: on the planted-keyword task, where the
keyword alone decides the label, the keyword's evidence as attribution must
score clearly better than random attributions on every faithfulness metric."""

import pytest
import torch

from captum_nlp_ext.huggingface import ClassifierForward, get_embedding_layer
from captum_nlp_ext.metrics import (
    aopc_comprehensiveness,
    aopc_sufficiency,
    auc_rep,
    comprehensiveness,
    deletion_curve,
    delta_accuracy,
    FERRET_PERCENTS,
    insertion_curve,
    kendall_tau_loo,
    log_odds,
    Removal,
    soft_comprehensiveness,
    soft_sufficiency,
    sufficiency,
)
from captum_nlp_ext.testing import (
    planted_keyword_task,
    tiny_bert_classifier,
    train_classifier,
)
from captum_nlp_ext.testing.synthetic import MASK, N_SPECIAL


@pytest.fixture(scope="module")
def setting():
    # A model this small trains fastest on one thread (and far faster on a
    # loaded machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield _trained()
    torch.set_num_threads(threads)


def _trained():
    task = planted_keyword_task(n=448, seed=0)
    train, test = task.split(384)
    model = tiny_bert_classifier(task.vocab_size)
    accuracy = train_classifier(model, train, steps=150)
    assert accuracy > 0.9
    perfect = test.evidence.float()
    generator = torch.Generator().manual_seed(0)
    random = torch.rand(test.input_ids.shape, generator=generator)
    return model, test, perfect, random


def filler_mlm(vocab_size):
    """Guesses filler words only: the first filler, then the second."""

    def mlm(ids, attention_mask=None):
        logits = torch.zeros(*ids.shape, vocab_size)
        logits[..., N_SPECIAL + 2] = 2.0
        logits[..., N_SPECIAL + 3] = 1.0
        return logits

    return mlm


def metrics(model, task):
    """Each metric as a function of the attributions."""
    forward = ClassifierForward(model)
    layer = get_embedding_layer(model)
    ids = task.input_ids
    mask = Removal("mask", token_id=MASK)
    common = dict(
        feature_mask=task.feature_mask, additional_forward_args=task.attention_mask
    )
    mlm = filler_mlm(task.vocab_size)
    return {
        "comprehensiveness": lambda a: comprehensiveness(forward, ids, a, **common),
        "sufficiency": lambda a: sufficiency(forward, ids, a, **common),
        "aopc_comprehensiveness": lambda a: aopc_comprehensiveness(
            forward, ids, a, **common
        ),
        "aopc_sufficiency(ferret)": lambda a: aopc_sufficiency(
            forward, ids, a, percents=FERRET_PERCENTS, **common
        ),
        "log_odds[mask]": lambda a: log_odds(forward, ids, a, removal=mask, **common),
        "delta_accuracy": lambda a: delta_accuracy(
            forward, ids, a, labels=task.labels, words=(1,), percents=(), **common
        )["gold@1w"],
        "deletion_auc": lambda a: deletion_curve(forward, ids, a, **common),
        "insertion_auc[mask]": lambda a: insertion_curve(
            forward, ids, a, removal=mask, **common
        ),
        "kendall_tau_loo": lambda a: kendall_tau_loo(forward, ids, a, **common),
        "soft_nc": lambda a: soft_comprehensiveness(
            forward, layer, ids, a, seed=0, **common
        ),
        "soft_ns": lambda a: soft_sufficiency(forward, layer, ids, a, seed=0, **common),
        "auc_rep": lambda a: auc_rep(
            forward, mlm, ids, a, mask_token_id=MASK, **common
        ),
    }


def test_perfect_attributions_beat_random_on_every_metric(setting):
    model, task, perfect, random = setting
    for name, metric in metrics(model, task).items():
        good, bad = metric(perfect), metric(random)
        if good.details["higher_is_better"]:
            assert good.ci_low > bad.ci_high, (name, str(good), str(bad))
        else:
            assert good.ci_high < bad.ci_low, (name, str(good), str(bad))
