"""A text classifier (Hugging Face, or any module with a token embedding
table) with a VMASK word-mask layer after its input embedding layer, trained
with it (Chen and Ji, EMNLP 2020)."""

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.artifacts import (
    check_same_model,
    read_artifact,
    write_artifact,
)
from captum_nlp_ext._utils.deprecation import grouped_into, keyword_only_after
from captum_nlp_ext._utils.fingerprint import model_fingerprint
from captum_nlp_ext._utils.messages import warn_caller
from captum_nlp_ext._utils.models import get_embedding_layer
from captum_nlp_ext._utils.types import PathLike
from captum_nlp_ext._utils.units import Units
from captum_nlp_ext._utils.validation import check_int
from captum_nlp_ext.attr._utils.training import check_batches, module_name
from captum_nlp_ext.attr._utils.vmask import (
    continuation_table,
    MaskHook,
    word_units,
    WordMaskNet,
)
from captum_nlp_ext.attr._utils.vmask_fit import EpochHook, run_fit, VMaskFitSettings

logger = logging.getLogger("captum_nlp_ext")

#: The mask network's file in a saved VMASK model's folder.
MASK_FILE = "vmask.safetensors"
#: The weights of a classifier that is not a Hugging Face model, beside it.
MODEL_FILE = "classifier.safetensors"
_FORMAT = "captum-nlp-ext/vmask/1"
#: Keep probabilities that all lie within this of one value rank no word.
FLAT = 0.01
# fit's knobs that moved into VMaskFitSettings (the old keywords work until 0.3).
_FIT_KNOBS = tuple(f.name for f in dataclasses.fields(VMaskFitSettings))


class VMaskClassifier(Module):
    r"""VMASK (Chen and Ji, "Learning Variational Word Masks to Improve the
    Interpretability of Neural Text Classifiers", EMNLP 2020): a word-mask layer
    right after a classifier's input embedding layer, trained together with the
    classifier under an information bottleneck so that it learns to rely on
    few, task-specific words.

    Each word :math:`i` gets a keep probability :math:`p_i = \sigma(m(e_i))`
    from a small network :math:`m` of its embedding (the pieces of a word
    share one: the mean of their logits), and its embeddings are multiplied by
    a keep variable :math:`R_i`. In training :math:`R_i` is a Bernoulli sample
    (relaxed with Gumbel-softmax for the gradient); in eval mode it is its
    expectation :math:`p_i`, deterministically, and the :math:`p_i` are the
    model's own word importances (:class:`~captum_nlp_ext.attr.VMask`).
    Special tokens and padding are never masked.

    The wrapped model is an ordinary classifier: it is called like the
    original (``model(input_ids, attention_mask, ...)``, the same
    ``ModelOutput``), and :func:`~captum_nlp_ext.huggingface.get_embedding_layer`
    finds the original embedding layer, so Captum's methods and ours explain it
    through that layer unchanged (the mask is part of the model after it).
    With every keep probability at 1 it is the original model.

    The paper's own classifiers, CNNs and LSTMs trained from scratch with the
    mask, are modules of their own: any module called as ``model(input_ids,
    attention_mask)`` that returns (batch, classes) logits (or an output with
    ``logits``) and holds one ``nn.Embedding`` (or give ``layer``) can be
    wrapped, trained and saved.

    Args:
        model (Module): A Hugging Face sequence classifier
                    (``AutoModelForSequenceClassification``), or any text
                    classifier module as above.
        tokenizer (PreTrainedTokenizerBase, optional): Its tokenizer, for word
                    units (WordPiece ``##`` pieces, or the word-start marks of
                    SentencePiece and byte-level BPE) and its special ids.
                    Default: None (every token is a word; no special tokens
                    but those in ``special_token_ids``)
        layer (Module, optional): The layer whose output is masked.
                    Default: None (``get_embedding_layer(model)``, the token
                    embedding table: ``get_input_embeddings()``, else the
                    model's one ``nn.Embedding``)
        hidden_size (int, optional): Hidden units of the mask network.
                    Default: None (the embedding size)
        special_token_ids (sequence of int, optional): Ids never masked,
                    besides the tokenizer's special ids. Default: None
        seed (int): Seed of the mask network's initial weights. Default: 0
    """

    #: The file beside the wrapped model's that :meth:`save` writes.
    MASK_FILE = MASK_FILE

    @keyword_only_after(3)
    def __init__(
        self,
        model: Module,
        tokenizer: Any = None,
        *,
        layer: Optional[Module] = None,
        hidden_size: Optional[int] = None,
        special_token_ids: Optional[Sequence[int]] = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(model, Module):
            raise TypeError(
                "`model` must be a text classifier Module (a Hugging Face sequence "
                f"classifier, a CNN, an LSTM...); got {type(model).__name__}."
            )
        self.model: Any = model
        layer = get_embedding_layer(model) if layer is None else layer
        self._layer_name = module_name(model, layer, "layer")
        embedding = getattr(layer, "embedding_dim", None) or getattr(
            getattr(model, "config", None), "hidden_size", None
        )
        if not isinstance(embedding, int):
            raise ValueError(
                "cannot tell the embedding size of `layer`: pass a layer with "
                "`embedding_dim` or a model whose config has `hidden_size`."
            )
        vocab_size = _vocab_size(model, layer)
        check_int("seed", seed, 0)
        hidden = embedding if hidden_size is None else hidden_size
        check_int("hidden_size", hidden, 1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.mask = WordMaskNet(embedding, hidden)
        continuation = (
            None if tokenizer is None else continuation_table(tokenizer, vocab_size)
        )
        special = torch.zeros(vocab_size, dtype=torch.bool)
        ids = list(special_token_ids or [])
        if tokenizer is not None:
            ids += list(tokenizer.all_special_ids)
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < vocab_size:
                raise ValueError(
                    f"`special_token_ids` must be ids in [0, {vocab_size}); got {i!r}."
                )
        special[ids] = True
        self.special: Tensor
        self.register_buffer("special", special, persistent=False)
        self.continuation: Optional[Tensor]
        self.register_buffer("continuation", continuation, persistent=False)
        self.tokenizer = tokenizer
        self.to(next(model.parameters()).device)
        # The wrapper takes the wrapped classifier's mode (eval, as loaded):
        # in training mode its predictions would sample masks.
        self.train(model.training)
        self._temperature = 1.0
        self._generator: Optional[torch.Generator] = None
        self._recorded: Optional[Tuple[Tensor, Units]] = None

    # What other code asks of a Hugging Face model.
    @property
    def config(self) -> Any:
        """The wrapped classifier's configuration."""
        return self.model.config

    @property
    def base_model(self) -> Module:
        """The wrapped classifier's encoder (``model.base_model``)."""
        return self.model.base_model

    @property
    def layer(self) -> Module:
        """The layer whose output is masked."""
        return self.model.get_submodule(self._layer_name)

    def get_input_embeddings(self) -> Module:
        """The wrapped classifier's token embedding table (not masked itself:
        the mask acts on its output); for a classifier that is not a Hugging
        Face model, its one ``nn.Embedding``."""
        get = getattr(self.model, "get_input_embeddings", None)
        return get() if get is not None else get_embedding_layer(self.model)

    def forward(
        self,
        input_ids: Optional[Tensor] = None,
        attention_mask: Optional[Tensor] = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """The classifier's forward with the word masks applied: sampled in
        training mode, their expectation (the keep probabilities) in eval mode."""
        with self._masking(input_ids, attention_mask):
            return self.model(input_ids, attention_mask, *args, **kwargs)

    @torch.no_grad()
    def keep_probabilities(
        self, input_ids: Tensor, attention_mask: Optional[Tensor] = None
    ) -> Tuple[Tensor, Units]:
        """(batch, tokens) keep probability of each token's word, 0 on special
        tokens and padding, and the word units. Needs only the layer's output."""
        embeddings = self.layer(input_ids)
        logits, units = self._word_logits(embeddings, input_ids, attention_mask)
        if units.max_units == 0:
            return torch.zeros(input_ids.shape, device=input_ids.device), units
        return units.to_tokens(torch.sigmoid(logits)), units

    @keyword_only_after(2)
    @grouped_into("settings", VMaskFitSettings, *_FIT_KNOBS)
    def fit(
        self,
        batches: Any,
        *,
        epochs: int = 1,
        settings: Optional[VMaskFitSettings] = None,
        checkpoint: Optional[PathLike] = None,
        on_epoch_end: Optional[EpochHook] = None,
        show_progress: bool = False,
        seed: int = 0,
    ) -> List[Dict[str, float]]:
        r"""Train the classifier and the mask network together: minimise
        :math:`\mathrm{CE}(y, f(R \odot x)) + \beta\,\overline{KL}(q(R|x) \|
        \mathrm{Bern}(\pi))` with AdamW (the paper's objective: the labels'
        likelihood under sampled masks, minus beta times the information
        term; ``beta`` annealed over epochs as in the authors' code).

        A fit that takes hours can be killed and run again: with
        ``checkpoint``, everything the fit needs to go on (the weights, the
        optimizer's and the schedule's state, the random state, the history)
        is written there after every epoch, and a fit started with the same
        file and settings continues after its last whole epoch, drawing what
        the uninterrupted fit would have drawn.

        Args:
            batches (iterable of dict): Each a dict with ``input_ids``,
                        ``attention_mask`` and ``labels`` (batch,) tensors;
                        other entries (``token_type_ids``) go to the model. A
                        list or DataLoader (read once an epoch).
            epochs (int): Passes over ``batches`` (with ``checkpoint``: in
                        all, those of earlier runs included). Default: 1
            settings (VMaskFitSettings, optional): The optimizer, the
                        information term and the relaxation (the old keywords
                        ``lr``, ``mask_lr``, ``beta``, ``prior``,
                        ``temperature``, ``weight_decay``, ``max_grad_norm``
                        and ``lr_schedule`` still work until 0.3, with a
                        FutureWarning).
                        Default: None (``VMaskFitSettings()``: fine-tuning a
                        pretrained classifier)
            checkpoint (str or PathLike, optional): A file to continue from and
                        to write after every epoch; one made with other
                        settings or seed is refused. Keep it outside your
                        repository.
                        Default: None (nothing written)
            on_epoch_end (Callable, optional): Called after every epoch with
                        that epoch's record (as returned), the model in eval
                        mode (e.g. to score held-out data and keep the best
                        weights); returning True ends the fit there (and a fit
                        run again from its checkpoint stays ended).
                        Default: None
            show_progress (bool): A progress bar over steps. Default: False
            seed (int): Seed of the masks' samples and of dropout.
                        Default: 0

        The wrapper's mode is restored (eval, as constructed from a loaded
        classifier): its predictions then use the expected masks.

        Returns:
            One dict per epoch (a resumed fit's earlier epochs included):
            ``epoch``, ``beta`` and the mean ``loss``, ``cross_entropy`` and
            ``information`` (the KL term) of its steps.
        """
        check_int("epochs", epochs, 1)
        check_int("seed", seed, 0)
        settings = VMaskFitSettings() if settings is None else settings
        if not isinstance(settings, VMaskFitSettings):
            raise TypeError(
                "`settings` must be a VMaskFitSettings; got "
                f"{type(settings).__name__}."
            )
        if on_epoch_end is not None and not callable(on_epoch_end):
            raise TypeError("`on_epoch_end` must be callable.")
        batches = check_batches(batches, epochs)
        result = run_fit(
            self, batches, epochs, settings, seed, checkpoint, on_epoch_end,
            show_progress,
        )  # fmt: skip
        if result.spread is not None and result.spread < FLAT:
            warn_caller(
                f"VMASK's keep probabilities stayed at the prior ({settings.prior}) "
                f"(every word of the last batch within {result.spread:.4f} of it): "
                f"the masks say nothing. `lr` ({settings.lr}) and `mask_lr` "
                f"({settings.mask_lr}) assume a pretrained, fine-tuned classifier; "
                "a model trained from scratch needs larger ones (the authors' CNN "
                "and LSTM: 1e-3), or more epochs."
            )
        return result.history

    def save(self, path: PathLike) -> None:
        """Save the classifier (``save_pretrained``; a classifier that is not
        a Hugging Face model: its weights in ``classifier.safetensors``), its
        tokenizer when given, and the mask network in ``vmask.safetensors``
        beside them, with the classifier's fingerprint."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        if hasattr(self.model, "save_pretrained"):
            self.model.save_pretrained(str(folder))
        else:
            write_artifact(
                folder / MODEL_FILE,
                self.model.state_dict(),
                {"format": _FORMAT, "class": type(self.model).__qualname__},
            )
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(str(folder))
        tensors = {f"mask.{k}": v for k, v in self.mask.state_dict().items()}
        tensors["special"] = self.special.to(torch.uint8)
        if self.continuation is not None:
            tensors["continuation"] = self.continuation.to(torch.uint8)
        settings = {
            "format": _FORMAT,
            "layer": self._layer_name,
            "hidden_size": self.mask.hidden.out_features,
            "fingerprint": model_fingerprint(self.model),
        }
        write_artifact(folder / MASK_FILE, tensors, {"settings": json.dumps(settings)})

    @classmethod
    @keyword_only_after(2)
    def load(
        cls, path: PathLike, *, model: Optional[Module] = None, tokenizer: Any = None
    ) -> "VMaskClassifier":
        """Load a folder written by :meth:`save`, in eval mode.

        Args:
            path (str or PathLike): The folder.
            model (Module, optional): The classifier to put the mask on; it
                        must be the one saved (same configuration and weights);
                        for one saved as ``classifier.safetensors`` (not a
                        Hugging Face model), a module of its class, given the
                        saved weights. Default: None (loaded from ``path``)
            tokenizer (PreTrainedTokenizerBase, optional): Kept on the model.
                        Default: None (loaded from ``path`` when it has one)

        Raises:
            FileNotFoundError: ``path`` has no ``vmask.safetensors``.
            ValueError: the file is not a VMASK file, or was made for another
                        model.
        """
        folder = Path(path)
        file = folder / MASK_FILE
        if not file.is_file():
            raise FileNotFoundError(
                f"No {MASK_FILE} in {folder}: not a model saved by "
                "VMaskClassifier.save."
            )
        # Masks saved before files had checksums still load.
        header, tensors = read_artifact(file, "VMASK", require_checksum=False)
        settings = json.loads(header.get("settings", "{}"))
        if settings.get("format") != _FORMAT:
            raise ValueError(f"{file} is not a VMASK file (format {_FORMAT}).")
        weights = folder / MODEL_FILE
        if weights.is_file():
            if model is None:
                raise ValueError(
                    f"{folder} holds the weights of a {_saved_class(weights)}, not "
                    "a Hugging Face model: pass `model`, a module of that class."
                )
            try:
                model.load_state_dict(read_artifact(weights, "VMASK classifier")[1])
            except RuntimeError as error:
                raise ValueError(
                    f"`model` does not take the weights saved in {weights} (a "
                    f"{_saved_class(weights)}): {error}"
                ) from None
        elif model is None:
            from transformers import AutoModelForSequenceClassification

            model = AutoModelForSequenceClassification.from_pretrained(str(folder))
        check_same_model(
            settings["fingerprint"],
            model,
            f"The mask network in {file} was trained with another model (its "
            "{differ} differ): load it with the classifier saved beside it.",
        )
        if tokenizer is None and (folder / "tokenizer_config.json").is_file():
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(folder))
        vmask = cls(
            model,
            layer=model.get_submodule(settings["layer"]),
            hidden_size=int(settings["hidden_size"]),
        )
        vmask.tokenizer = tokenizer
        vmask.mask.load_state_dict(
            {k[len("mask.") :]: v for k, v in tensors.items() if k.startswith("mask.")}
        )
        vmask.special = tensors["special"].bool().to(vmask.special.device)
        if "continuation" in tensors:
            vmask.continuation = tensors["continuation"].bool().to(vmask.special.device)
        return vmask.eval()

    def _word_logits(
        self, embeddings: Tensor, input_ids: Optional[Tensor], attention_mask: Any
    ) -> Tuple[Tensor, Units]:
        if input_ids is None:  # inputs_embeds: tokens are words
            ids = torch.zeros(
                embeddings.shape[:2], dtype=torch.long, device=embeddings.device
            )
            units = word_units(ids, None, torch.zeros(1, dtype=torch.bool), None)
        else:
            units = word_units(
                input_ids, self.continuation, self.special, attention_mask
            )
        token_logits = self.mask(embeddings.float())
        return units.pool(token_logits, "mean"), units

    def _masking(self, input_ids: Optional[Tensor], attention_mask: Any) -> Any:
        return MaskHook(self, input_ids, attention_mask)


def _saved_class(weights: Path) -> str:
    header, _ = read_artifact(weights, "VMASK classifier")
    return header.get("class", "module")


def _vocab_size(model: Module, layer: Module) -> int:
    size = getattr(layer, "num_embeddings", None) or getattr(
        getattr(model, "config", None), "vocab_size", None
    )
    if not isinstance(size, int):
        raise ValueError("cannot tell the vocabulary size of `model`.")
    return size
