"""Explain texts with several attribution methods side by side.

The methods are those of the registry
:data:`captum_nlp_ext.engine.methods.METHODS`; a new method joins
:func:`explain_texts`, the command line and the benchmark by registering itself
with :func:`~captum_nlp_ext.engine.methods.register_method`.
"""

from typing import Any, Dict, List, Mapping, Optional, Sequence

import torch
from captum.attr._utils.visualization import VisualizationDataRecord
from torch.nn import Module
from tqdm.auto import tqdm

from captum_nlp_ext._utils.targets import select_target
from captum_nlp_ext.attr.visualization import visualization_records, word_attributions
from captum_nlp_ext.engine.methods import MethodContext, METHODS
from captum_nlp_ext.engine.settings import run_keywords, RunSettings
from captum_nlp_ext.huggingface import (
    class_label,
    class_names,
    ClassifierForward,
    kept_word_ids,
    word_feature_mask,
)

#: The methods of an explanation that names none.
DEFAULT_METHODS = ("nlgp", "lig")


@run_keywords(data=False)
def explain_texts(
    model: Module,
    tokenizer: Any,
    texts: Sequence[str],
    settings: Optional[RunSettings] = None,
    *,
    labels: Optional[Sequence[Optional[int]]] = None,
    resources: Optional[Mapping[str, Any]] = None,
    show_progress: bool = False,
) -> Dict[str, List[VisualizationDataRecord]]:
    """Explain the predicted class of each text with each method.

    Example::

        records = explain_texts(
            model, tokenizer, ["a gripping film"], RunSettings(methods=("nlgp",))
        )
        render_html(records["nlgp"])

    Args:
        model (Module): A Hugging Face sequence classifier.
        tokenizer (PreTrainedTokenizerFast): Its (fast) tokenizer.
        texts (sequence of str): The texts; whitespace-separated words are the
                    units explained.
        settings (RunSettings, optional): The methods and their settings
                    (:class:`~captum_nlp_ext.benchmark.RunSettings`:
                    ``methods``, ``seed``, ``budget``, ``max_length``,
                    ``internal_batch_size``, ``method_options``; the texts are
                    explained in one batch). Default: None (``RunSettings()``
                    with the methods ``("nlgp", "lig")``)
        labels (sequence of int, optional): Gold labels, shown beside the
                    prediction. Default: None
        resources (Mapping, optional): What some methods need (the MLM of
                    ``im``, the reference index of ``lafa``), as built by
                    :func:`~captum_nlp_ext.engine.settings.build_run_resources`.
                    Default: None
        show_progress (bool): A progress bar over the methods (on stderr).
                    Default: False

    Returns:
        For each method, one ``VisualizationDataRecord`` per text, ready for
        :func:`~captum_nlp_ext.attr.visualization.render_html`; classes by name
        where the model's config has ``id2label``; ``convergence_score`` holds
        the method's convergence estimate where it has one (NLGP's).
    """
    settings = RunSettings.given(settings, DEFAULT_METHODS)
    if settings.window is not None:
        raise ValueError("`window`: explain_texts truncates (`max_length`).")
    settings = settings.for_model(model)
    # Whitespace words are the units: they match the datasets' word-level gold
    # (PTB tokens in SST, whitespace tokens in ERASER) one to one.
    encoding = tokenizer(
        [text.split() for text in texts],
        is_split_into_words=True,
        padding=True,
        truncation=True,
        max_length=settings.max_length,
        return_tensors="pt",
    )
    feature_mask = word_feature_mask(encoding)
    forward = ClassifierForward(model, output="probs")
    input_ids, attention_mask = encoding["input_ids"], encoding["attention_mask"]
    with torch.no_grad():
        probs = forward(input_ids, attention_mask)
    predicted = probs.argmax(-1)
    # Unit ids are word indices; a word the tokenizer dropped has no unit.
    words = [
        [split[j] for j in kept]
        for split, kept in zip(
            (text.split() for text in texts), kept_word_ids(feature_mask)
        )
    ]
    names = class_names(model)
    shown = [class_label(names, int(p)) for p in predicted.tolist()]
    gold = (
        [class_label(names, g) for g in labels]
        if labels is not None
        else ["?"] * len(texts)
    )
    records = {}
    methods = settings.names
    progress = tqdm(methods, desc="explain", unit="method", disable=not show_progress)
    for name in progress:
        progress.set_postfix_str(name)
        context = MethodContext(
            model,
            tokenizer,
            input_ids,
            attention_mask,
            feature_mask,
            predicted,
            **settings.context(name, dict(resources or {})),
        )
        attributions, convergence = METHODS[name].explain(context)
        records[name] = visualization_records(
            word_attributions(attributions, feature_mask),
            words,
            select_target(probs, predicted),
            shown,
            gold,
            shown,
            convergence=convergence,
        )
    return records
