"""The resources methods need (a masked language model, a reference index),
built once per run."""

from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from torch.nn import Module

from captum_nlp_ext.attr import ReferenceIndex
from captum_nlp_ext.benchmark._registry import METHODS


def build_resources(
    methods: Any,
    model: Module,
    tokenizer: Any,
    mlm: Any = None,
    reference_texts: Optional[Sequence[str]] = None,
    cache_path: Optional[str] = None,
    show_progress: bool = False,
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
        cache_path (str, optional): Where the reference index is saved once
                    built and loaded from later (a run's folder). Default: None
        show_progress (bool): A progress bar while the reference index is
                    built (on stderr). Default: False

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
        if cache_path is not None and Path(cache_path).is_file():
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
    return resources
