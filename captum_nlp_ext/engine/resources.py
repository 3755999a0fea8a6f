"""The resources methods need (a masked language model, a reference index, a
fitted DiffMask probe), built once per run."""

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from torch.nn import Module

from captum_nlp_ext._utils.fingerprint import model_fingerprint
from captum_nlp_ext.attr import DiffMask, ReferenceIndex
from captum_nlp_ext.engine._registry import METHODS


def build_resources(
    methods: Any,
    model: Module,
    tokenizer: Any,
    mlm: Any = None,
    reference_texts: Optional[Sequence[str]] = None,
    cache: Optional[Callable[[str], Path]] = None,
    show_progress: bool = False,
    method_options: Optional[Dict[str, Dict[str, Any]]] = None,
) -> Dict[str, Any]:
    """The resources the given methods need, by name.

    Args:
        methods (iterable of str): Registered method names.
        model (Module): The explained classifier (encodes the reference pool).
        tokenizer (PreTrainedTokenizerBase): Its tokenizer.
        mlm (Module or str, optional): The masked language model of ``im``, or
                    its folder. Default: None
        reference_texts (list of str, optional): The reference pool of
                    ``lafa`` (e.g. training texts). Default: None
        cache (Callable, optional): ``name -> path`` of a run's cache folder
                    (``RunStore.cache_path``): built resources (the reference
                    index, the DiffMask probe) are saved there, named by what
                    built them, and loaded from there later. Default: None
        show_progress (bool): A progress bar while the reference index is
                    built or the probe fitted (on stderr). Default: False
        method_options (dict, optional): Settings by method name, for the
                    probe's fit (``diffmask``'s ``fit_*`` settings).
                    Default: None

    Raises:
        ValueError: A method needs a resource that was not given.
    """
    needed = {need for name in methods for need in METHODS[name].needs}
    resources: Dict[str, Any] = {}
    if "mlm" in needed:
        if mlm is None:
            raise ValueError("method `im` needs a masked language model: pass `mlm`.")
        if isinstance(mlm, (str, Path)):
            from transformers import AutoModelForMaskedLM

            mlm = AutoModelForMaskedLM.from_pretrained(str(mlm)).eval()
        resources["mlm"] = mlm
    if "reference_index" in needed:
        cache_path = _cached(cache, "reference_index", model, reference_texts)
        if cache_path is not None and cache_path.is_file():
            resources["reference_index"] = ReferenceIndex.load(str(cache_path), model)
        else:
            if not reference_texts:
                raise ValueError(
                    "method `lafa` needs reference texts (a training split): pass "
                    "`reference_texts`."
                )
            index = ReferenceIndex.build(
                model, reference_texts, tokenizer, show_progress=show_progress
            )
            if cache_path is not None:
                index.save(str(cache_path))
            resources["reference_index"] = index
        if cache_path is not None:
            resources["reference_index"].saved_at = cache_path
    if "diffmask" in needed:
        settings = METHODS["diffmask"].settings((method_options or {}).get("diffmask"))
        probe_path = _cached(cache, "diffmask", model, reference_texts, settings)
        if probe_path is not None and probe_path.is_file():
            resources["diffmask"] = DiffMask.load(probe_path, model)
        else:
            if not reference_texts:
                raise ValueError(
                    "method `diffmask` needs training texts to fit its probe: pass "
                    "`reference_texts`."
                )
            probe = fit_probe(
                model, tokenizer, reference_texts, settings, show_progress
            )
            if probe_path is not None:
                probe.save(probe_path)
            resources["diffmask"] = probe
    return resources


def keep_resources(resources: Dict[str, Any]) -> None:
    """Save what the methods added to the run's resources: the base scores
    LAFA kept in its reference index (another process of the run may have
    saved others meanwhile; both are kept)."""
    index = resources.get("reference_index")
    path = getattr(index, "saved_at", None)
    if index is None or path is None or not index.scores_changed:
        return
    if path.is_file():
        saved = ReferenceIndex.load(str(path), index.model)
        for setting, table in saved.score_tables.items():
            mine = index.scores_for(setting)
            mine.entries = {**table.entries, **mine.entries}
    index.save(str(path))


def _cached(
    cache: Optional[Callable[[str], Path]],
    kind: str,
    model: Module,
    texts: Optional[Sequence[str]],
    settings: Optional[Dict[str, Any]] = None,
) -> Optional[Path]:
    """A resource's cache file, named by what builds it (the model, the texts,
    the settings), so that another pool, model or setting never reuses it."""
    if cache is None:
        return None
    key: List[Any] = [model_fingerprint(model), list(texts or [])]
    if settings is not None:
        key.append(sorted(settings.items()))
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]
    return Path(cache(f"{kind}-{digest}.safetensors"))


def fit_probe(
    model: Module,
    tokenizer: Any,
    texts: Sequence[str],
    settings: Dict[str, Any],
    show_progress: bool = False,
) -> DiffMask:
    """DiffMask's input-gate probe for ``model``, fitted on ``texts`` (batches
    of 32, at most 128 tokens) with the spec's ``fit_epochs`` and ``fit_lr``."""
    batches = []
    for start in range(0, len(texts), 32):
        enc = tokenizer(
            list(texts[start : start + 32]),
            padding=True,
            truncation=True,
            max_length=128,
            return_tensors="pt",
        )
        batches.append(dict(enc))
    probe = DiffMask(model)
    probe.fit(
        batches,
        epochs=int(settings["fit_epochs"]),
        lr=float(settings["fit_lr"]),
        show_progress=show_progress,
    )
    return probe
