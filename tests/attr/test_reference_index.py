import copy
import importlib.util
import sys

import pytest
import torch

from captum_nlp_ext._utils.fingerprint import model_fingerprint
from captum_nlp_ext.attr import ReferenceIndex
from captum_nlp_ext.testing import planted_keyword_task, tiny_bert_classifier

SPECIALS = [0, 1, 2]


@pytest.fixture(scope="module")
def task():
    return planted_keyword_task(60, seed=3)


@pytest.fixture(scope="module")
def model(task):
    return tiny_bert_classifier(task.vocab_size, seed=0)


def batches(task, size=16):
    return [
        {
            "input_ids": task.input_ids[i : i + size],
            "attention_mask": task.attention_mask[i : i + size],
        }
        for i in range(0, len(task), size)
    ]


@pytest.fixture(scope="module")
def index(task, model):
    return ReferenceIndex.build(model, batches(task), special_token_ids=SPECIALS)


def word_tokenizer(words):
    from tokenizers import models, pre_tokenizers, processors, Tokenizer
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[CLS]": 1, "[SEP]": 2, "[UNK]": 3, "[MASK]": 4}
    vocab.update({w: 5 + i for i, w in enumerate(words)})
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def test_build_stores_pool(task, model, index):
    assert len(index) == len(task)
    assert index.vectors.shape == (len(task), 32)
    width = int(task.attention_mask.sum(1).max())
    assert torch.equal(index.input_ids[:, :width], task.input_ids[:, :width])
    # Word mask: attended tokens that are not [CLS]/[SEP].
    expected = task.feature_mask >= 0
    assert torch.equal(index.word_mask[:, : expected.shape[1]], expected)
    with torch.no_grad():
        out = model(
            input_ids=task.input_ids,
            attention_mask=task.attention_mask,
            output_hidden_states=True,
        )
    assert torch.equal(index.predictions, out.logits.argmax(-1))
    mask = task.attention_mask.unsqueeze(-1).float()
    pooled = (out.hidden_states[2] * mask).sum(1) / mask.sum(1)
    assert torch.allclose(index.vectors, pooled, atol=1e-5)


def test_build_from_texts_with_tokenizer(model):
    tokenizer = word_tokenizer([f"w{i}" for i in range(40)])
    texts = ["w1 w2 w3", "w4 w5", "w6 w7 w8 w9", "w1 w2"]
    index = ReferenceIndex.build(model, texts, tokenizer=tokenizer, batch_size=3)
    assert len(index) == 4
    assert index.input_ids[1, :4].tolist() == [1, 9, 10, 2]
    assert index.word_mask.sum(1).tolist() == [3, 2, 4, 2]
    other = ReferenceIndex.build(
        model, [tokenizer(texts, padding=True, return_tensors="pt")]
    )
    assert torch.allclose(other.vectors, index.vectors, atol=1e-6)


@pytest.mark.parametrize("pooling", ["cls", "max"])
def test_pooling_choices(task, model, pooling):
    index = ReferenceIndex.build(model, batches(task), layer_index=1, pooling=pooling)
    with torch.no_grad():
        hidden = model(
            input_ids=task.input_ids,
            attention_mask=task.attention_mask,
            output_hidden_states=True,
        ).hidden_states[1]
    if pooling == "cls":
        expected = hidden[:, 0]
    else:
        attended = task.attention_mask.bool().unsqueeze(-1)
        expected = hidden.masked_fill(~attended, float("-inf")).amax(1)
    assert torch.allclose(index.vectors, expected, atol=1e-5)


def test_search_matches_brute_force(task, index):
    queries, _ = index.encode(task.input_ids[:5], task.attention_mask[:5])
    found = index.search(queries, 4)
    distances = (queries.unsqueeze(1) - index.vectors.unsqueeze(0)).norm(dim=-1)
    expected = distances.sort(dim=1)
    assert torch.allclose(found.distances, expected.values[:, :4], atol=1e-5)
    # The nearest text of a pool text is itself, at distance ~0.
    assert found.indices[:, 0].tolist() == [0, 1, 2, 3, 4]


def test_search_excludes_the_query_itself_even_padded_differently(task, index):
    ids, mask = task.input_ids[:3], task.attention_mask[:3]
    queries, _ = index.encode(ids, mask)
    padded_ids = torch.nn.functional.pad(ids, (0, 5), value=0)
    padded_mask = torch.nn.functional.pad(mask, (0, 5), value=0)
    found = index.search(queries, 3, exclude_ids=padded_ids, exclude_mask=padded_mask)
    plain = index.search(queries, 4)
    for row in range(3):
        assert row not in found.indices[row].tolist()
        assert found.indices[row].tolist() == plain.indices[row, 1:].tolist()


def test_search_same_class_and_distance_cut_off(task, index):
    queries, _ = index.encode(task.input_ids, task.attention_mask)
    classes = torch.arange(len(task)) % 2
    eps = index.distance_quantile(0.2)
    found = index.search(queries, 50, max_distance=eps, classes=classes)
    valid = found.indices >= 0
    assert bool(valid.any()) and not bool(valid.all())
    assert bool((found.distances[valid] < eps).all())
    pool_class = index.predictions[found.indices.clamp(min=0)]
    assert bool((pool_class == classes.unsqueeze(1))[valid].all())
    # Everything that qualifies is found (k is large enough here).
    distances = (queries.unsqueeze(1) - index.vectors.unsqueeze(0)).norm(dim=-1)
    qualifies = (distances < eps) & (index.predictions == classes.unsqueeze(1))
    assert torch.equal(valid.sum(1), qualifies.sum(1).clamp(max=50))


def test_distance_quantile_uses_all_pairs_of_a_small_pool(index):
    pairs = torch.pdist(index.vectors)
    for q in (0.1, 0.39, 0.9):
        expected = float(torch.quantile(pairs.double(), q))
        assert index.distance_quantile(q) == pytest.approx(expected, rel=1e-5)


def test_save_load_round_trip(tmp_path, task, model, index):
    path = str(tmp_path / "pool.safetensors")
    index.save(path)
    loaded = ReferenceIndex.load(path, model)
    for name in ("vectors", "input_ids", "attention_mask", "word_mask", "predictions"):
        assert torch.equal(getattr(loaded, name), getattr(index, name))
    assert loaded.settings == index.settings
    queries, _ = index.encode(task.input_ids[:8], task.attention_mask[:8])
    for args in ({}, {"classes": torch.zeros(8, dtype=torch.long)}):
        a = index.search(queries, 5, max_distance=index.distance_quantile(0.5), **args)
        b = loaded.search(
            queries, 5, max_distance=loaded.distance_quantile(0.5), **args
        )
        assert torch.equal(a.indices, b.indices)
        assert torch.equal(a.distances, b.distances)


def test_load_refuses_another_model(tmp_path, task, model, index):
    path = str(tmp_path / "pool.safetensors")
    index.save(path)
    assert ReferenceIndex.load(path, copy.deepcopy(model)) is not None
    other = tiny_bert_classifier(task.vocab_size, seed=1)
    with pytest.raises(ValueError, match="different model.*weights"):
        ReferenceIndex.load(path, other)
    wider = tiny_bert_classifier(task.vocab_size, seed=0, intermediate_size=48)
    with pytest.raises(ValueError, match="config and weights differ"):
        ReferenceIndex.load(path, wider)


def test_fingerprint_sees_a_single_changed_weight(model):
    changed = copy.deepcopy(model)
    with torch.no_grad():
        changed.classifier.weight[0, 0] += 1.0
    before, after = model_fingerprint(model), model_fingerprint(changed)
    assert before["config"] == after["config"]
    assert before["weights"] != after["weights"]


def test_load_rejects_a_foreign_file(tmp_path):
    from safetensors.torch import save_file

    path = str(tmp_path / "other.safetensors")
    save_file({"x": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not a saved ReferenceIndex"):
        ReferenceIndex.load(path, torch.nn.Linear(2, 2))


def test_build_restores_model_mode(task, model):
    model.train()
    model.bert.encoder.eval()
    try:
        ReferenceIndex.build(model, batches(task)[:1])
        assert model.training and model.classifier.training
        assert not model.bert.encoder.training
    finally:
        model.eval()


def test_bad_input(task, model):
    with pytest.raises(ValueError, match="`data` is empty"):
        ReferenceIndex.build(model, [])
    with pytest.raises(ValueError, match=r"`layer_index` must lie in \[0, 2\]"):
        ReferenceIndex.build(model, batches(task), layer_index=3)
    with pytest.raises(ValueError, match="`pooling` must be one of"):
        ReferenceIndex.build(model, batches(task), pooling="sum")
    with pytest.raises(ValueError, match="`tokenizer` is needed"):
        ReferenceIndex.build(model, ["a text"])
    with pytest.raises(TypeError, match="`data` must yield texts"):
        ReferenceIndex.build(model, [task.input_ids])
    single = ReferenceIndex.build(model, [{"input_ids": task.input_ids[:1]}])
    with pytest.raises(ValueError, match="single text"):
        single.distance_quantile(0.5)
    index = ReferenceIndex.build(model, batches(task)[:1])
    with pytest.raises(ValueError, match="`k` must be >= 1"):
        index.search(index.vectors[:1], 0)
    with pytest.raises(ValueError, match=r"`vectors` must have shape \(queries, 32\)"):
        index.search(torch.zeros(2, 5), 1)
    with pytest.raises(ValueError, match=r"`quantile` must lie in \[0.0, 1.0\]"):
        index.distance_quantile(1.5)


@pytest.mark.skipif(
    importlib.util.find_spec("faiss") is None, reason="faiss is not installed"
)
def test_faiss_flat_gives_the_torch_neighbours(tmp_path, task, model, index):
    path = str(tmp_path / "pool.safetensors")
    index.save(path)
    with_faiss = ReferenceIndex.load(path, model, faiss_factory="Flat")
    queries, _ = index.encode(task.input_ids[:10], task.attention_mask[:10])
    classes = torch.arange(10) % 2
    for kwargs in (
        {},
        {"classes": classes},
        {"exclude_ids": task.input_ids[:10], "exclude_mask": task.attention_mask[:10]},
    ):
        a = index.search(queries, 6, **kwargs)
        b = with_faiss.search(queries, 6, **kwargs)
        assert torch.equal(a.indices, b.indices)
        assert torch.allclose(a.distances, b.distances, atol=1e-3)


def test_faiss_missing_names_the_package_to_install(
    tmp_path, model, index, monkeypatch
):
    path = str(tmp_path / "pool.safetensors")
    index.save(path)
    # A None entry makes `import faiss` fail, as on a machine without it.
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(ImportError, match=r"pip install 'captum-nlp-ext\[faiss\]'"):
        ReferenceIndex.load(path, model, faiss_factory="Flat")
    # Without a faiss factory the index needs no faiss.
    assert ReferenceIndex.load(path, model).faiss_factory is None


def _rewrite(
    path, out, settings=None, drop=None, replace=None, header=None, checksum=True
):
    """Write a copy of the index file ``path`` to ``out`` with its settings,
    tensors or raw header changed; with ``checksum``, one of the new tensors
    (as a faulty writer would), else the original's."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    from captum_nlp_ext._utils.checksum import tensor_checksum
    from captum_nlp_ext.attr._utils.reference_file import CHECKSUM_KEY, METADATA_KEY

    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    stored = json.loads(meta[METADATA_KEY])
    stored.update(settings or {})
    for key in drop or ():
        tensors.pop(key, None)
        stored.pop(key, None)
    tensors.update(replace or {})
    text = header if header is not None else json.dumps(stored)
    metadata = {METADATA_KEY: text}
    metadata[CHECKSUM_KEY] = (
        tensor_checksum(tensors) if checksum else meta[CHECKSUM_KEY]
    )
    save_file(tensors, out, metadata=metadata)
    return out


def test_load_refuses_an_edited_or_unchecked_file(tmp_path, model, index):
    # A cache whose finite values were edited after it was written is refused,
    # not used: its tensors no longer match the checksum in its header.
    path = str(tmp_path / "pool.safetensors")
    index.save(path)
    edited = index.vectors.clone()
    edited[0, 0] += 1.0
    bad = _rewrite(path, str(tmp_path / "edited.safetensors"),
                   replace={"vectors": edited}, checksum=False)  # fmt: skip
    with pytest.raises(ValueError, match="edited.safetensors.*fails its checksum"):
        ReferenceIndex.load(bad, model)
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(path, framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = {k: v for k, v in f.metadata().items() if "checksum" not in k}
    unchecked = str(tmp_path / "unchecked.safetensors")
    save_file(tensors, unchecked, metadata=meta)
    with pytest.raises(ValueError, match="has no checksum.*build it again"):
        ReferenceIndex.load(unchecked, model)
    assert ReferenceIndex.load(path, model).vectors.shape == index.vectors.shape


@pytest.mark.parametrize(
    "change, field",
    [
        (dict(header="{not json"), "is not JSON"),
        (dict(header="[1, 2]"), "must be a JSON object"),
        (dict(drop=["fingerprint"]), "`fingerprint`"),
        (dict(settings={"pooling": "median"}), "`pooling` must be one of"),
        (dict(settings={"layer": "two"}), "`layer` must be an int"),
        (dict(settings={"layer": 99}), "`layer` is 99; the model has 2 layers"),
        (dict(settings={"format": "other/9"}), "`format` is 'other/9'"),
        (dict(drop=["predictions"]), "`predictions` is missing"),
        (dict(drop=["vectors"]), "`vectors` is missing"),
        (dict(replace={"predictions": torch.full((60,), 7)}), "the classifier has 2"),
        (dict(replace={"vectors": torch.full((60, 32), float("nan"))}), "NaN"),
        (dict(replace={"word_mask": torch.zeros(3, 3, dtype=torch.bool)}), "shape"),
        (dict(replace={"pair_distances": -torch.ones(5)}), "`pair_distances`"),
    ],
)
def test_load_refuses_a_malformed_file_naming_the_field(
    tmp_path, model, index, change, field
):
    path = str(tmp_path / "pool.safetensors")
    index.save(path)
    bad = _rewrite(path, str(tmp_path / "bad.safetensors"), **change)
    with pytest.raises(ValueError, match="bad.safetensors") as error:
        ReferenceIndex.load(bad, model)
    assert field in str(error.value)


def test_load_refuses_a_missing_or_non_safetensors_file(tmp_path, model):
    with pytest.raises(ValueError, match="No reference index file at"):
        ReferenceIndex.load(str(tmp_path / "missing.safetensors"), model)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"this is not a safetensors file")
    with pytest.raises(ValueError, match="junk.safetensors.*not a readable"):
        ReferenceIndex.load(str(junk), model)
