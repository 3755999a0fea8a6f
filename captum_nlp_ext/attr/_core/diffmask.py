"""DiffMask: amortized differentiable masking of the inputs or hidden states of
a model (De Cao et al., EMNLP 2020)."""

import inspect
import json
import logging
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from captum.attr import Attribution
from captum.log import log_usage
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.artifacts import (
    check_same_model,
    read_artifact,
    write_artifact,
)
from captum_nlp_ext._utils.checks import check_finite, check_model_call
from captum_nlp_ext._utils.deprecation import keyword_only_after, renamed_arguments
from captum_nlp_ext._utils.fingerprint import model_fingerprint
from captum_nlp_ext._utils.hooks import eval_mode, frozen_parameters, run_forward
from captum_nlp_ext._utils.models import attention_mask_of, get_embedding_layer
from captum_nlp_ext._utils.outputs import logits_to_probabilities
from captum_nlp_ext._utils.targets import resolve_target, TargetType
from captum_nlp_ext._utils.tokens import token_id
from captum_nlp_ext._utils.types import PathLike
from captum_nlp_ext._utils.units import unit_means
from captum_nlp_ext._utils.validation import (
    check_choice,
    check_float,
    check_inputs,
    check_int,
    format_additional_forward_args,
    match_inputs_format,
)
from captum_nlp_ext.attr._utils.diffmask import (
    encoder_layers,
    expected_gate,
    GateProbe,
    gating,
    hard_concrete_sample,
    initial_baseline,
    log_expected_l0,
    recording,
)
from captum_nlp_ext.attr._utils.training import check_batches, module_name, progress

logger = logging.getLogger("captum_nlp_ext")

GATES = ("input", "hidden")
_FORMAT = "captum-nlp-ext/diffmask/1"


class DiffMask(Attribution):
    r"""DiffMask (De Cao, Schlichtkrull, Aziz and Titov, "How do Decisions
    Emerge across Layers in Neural Models? Interpretation with Differentiable
    Masking", EMNLP 2020): learned erasure.

    A gate :math:`z_i \in [0, 1]` per token decides whether the token's input
    embedding (``gate="input"``) or its hidden state at layer :math:`l`
    (``gate="hidden"``) is kept or replaced by a learned baseline vector
    :math:`b_i`, one per position as the authors' placeholder (an erased token
    keeps its place: with one vector for every position, the tests' tiny
    models read erased words as a class, and the fit, unable to meet its
    constraint sparsely, depended on its seed). A small probe predicts the
    gates from the model's own hidden states up to layer :math:`l`, so "what
    the model knows at layer l" decides what may be dropped. The gates are
    Hard Concrete variables (Louizos et al., 2018), exactly 0 or 1 with some
    probability, and the probe is trained once over a data set (:meth:`fit`)
    to minimise the expected number of non-zero gates subject to the masked
    prediction's KL divergence from the original staying below a margin, with
    a Lagrange multiplier trained by gradient ascent. Then it explains new
    inputs with one forward pass and no search: the attribution of a token is
    its expected gate (1 = needed, 0 = can be dropped; unsigned, the same for
    every class).

    The explained model's parameters are never updated, and its mode and
    ``requires_grad`` are restored.
    """

    @renamed_arguments(layer="layer_index")
    @keyword_only_after(2)
    def __init__(
        self,
        model: Module,
        *,
        gate: str = "input",
        layer_index: Optional[int] = None,
        embeddings: Optional[Module] = None,
        layers: Optional[Sequence[Module]] = None,
        seed: int = 0,
        baseline_token_id: Optional[int] = None,
    ) -> None:
        r"""
        Args:
            model (Module): The classifier, called ``model(input_ids,
                        *additional_forward_args)`` and returning logits (or a
                        ``ModelOutput``), e.g. a Hugging Face sequence
                        classifier; or a causal LM (``...ForCausalLM``), whose
                        gates keep its next-token distribution after each
                        prompt (the last attended position) within the
                        margin, to explain it with ``CausalLMAttribution``.
            gate (str): ``"input"``: gate the embedding block's output (input
                        attribution; the probe reads layers 0..``layer_index``);
                        ``"hidden"``: gate the hidden states of layer
                        ``layer_index`` (the probe reads them). Default: "input"
            layer_index (int, optional): l, in [0, L] for input gates and [1, L] for
                        hidden ones (L = the number of layers; 0 = the
                        embeddings). Default: None (L for input gates; needed
                        for hidden ones)
            embeddings (Module, optional): The embedding block.
                        Default: None (``model.base_model.embeddings``; for a
                        causal LM ``model.get_input_embeddings()``)
            layers (sequence of Module, optional): The transformer layers in
                        order. Default: None (found for Hugging Face encoders)
            seed (int): Seed of the probe's initial weights. Default: 0
            baseline_token_id (int, optional): The token whose embedding-block
                        output at each position starts the learned baseline
                        of input gates (the authors start theirs at [MASK]:
                        pass ``tokenizer.mask_token_id``). Default: None (the
                        config's ``pad_token_id``; zeros without one, and for
                        hidden gates)
        """
        if not isinstance(model, Module):
            raise TypeError(f"`model` must be a Module; got {type(model).__name__}.")
        super().__init__(model)
        self.model = model
        self._batch_forward = _by_name(model)
        check_choice("gate", gate, GATES)
        if embeddings is None:
            try:
                embeddings = get_embedding_layer(model, "full")
            except (TypeError, ValueError):
                # A decoder-only LM adds positions past its token embeddings.
                embeddings = _input_embeddings(model)
            if embeddings is None:
                raise ValueError(
                    f"cannot find the embedding block of {type(model).__name__}: "
                    "pass `embeddings` (and `layers`)."
                ) from None
        layers = encoder_layers(model) if layers is None else list(layers)
        if not layers or not all(isinstance(m, Module) for m in [embeddings, *layers]):
            raise TypeError("`embeddings` and `layers` must be modules of `model`.")
        depth = len(layers) if layer_index is None and gate == "input" else layer_index
        if depth is None:
            raise ValueError("`layer_index` is needed with gate='hidden' (in [1, L]).")
        check_int("layer_index", depth, 0 if gate == "input" else 1)
        if depth > len(layers):
            raise ValueError(
                f"`layer_index` must be at most {len(layers)} (L); got {depth}."
            )
        self.gate, self.layer_index = gate, depth
        self._names = [module_name(model, m, "layers") for m in [embeddings, *layers]]
        self._read = [embeddings, *layers[:depth]]
        self._gated = embeddings if gate == "input" else layers[depth - 1]
        hidden = _hidden_size(model, embeddings)
        check_int("seed", seed, 0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.probe = GateProbe(hidden, depth, gate)
        # One baseline vector per position, as the authors' placeholder: an
        # erased token keeps its position (a single vector made the model
        # read erased words as a class on the tests' tasks).
        positions = _positions(model)
        if baseline_token_id is not None:
            check_int("baseline_token_id", baseline_token_id, 0)
        token = None
        if gate == "input":
            token = token_id("pad_token_id", baseline_token_id, model=model)
        self.baseline = torch.nn.Parameter(
            initial_baseline(embeddings, positions, hidden, token)
        )
        self.multiplier = torch.nn.Parameter(torch.ones(()))
        device = next(model.parameters()).device
        self.probe.to(device)
        self.baseline.data = self.baseline.data.to(device)
        self.multiplier.data = self.multiplier.data.to(device)

    def has_convergence_delta(self) -> bool:
        return False

    @keyword_only_after(2)
    def fit(
        self,
        batches: Any,
        *,
        epochs: int = 1,
        lr: float = 3e-4,
        baseline_lr: float = 1e-3,
        multiplier_lr: float = 0.3,
        margin: float = 0.1,
        show_progress: bool = False,
        seed: int = 0,
    ) -> List[Dict[str, float]]:
        r"""Train the probe, the baseline and the Lagrange multiplier
        :math:`\lambda \ge 0` over a data set: minimise
        :math:`\overline{L_0} + \lambda (KL(p(y|x) \| p(y|\tilde x)) - m)` in
        the probe and the baseline, maximise it in :math:`\lambda` (the
        paper's constrained objective; its learning rates). Each step's
        Lagrangian is divided by :math:`1 + \lambda` (a constant of the
        step): the same stationary points, but gradients of one scale while
        :math:`\lambda` moves by orders of magnitude. Without it, a fit on the
        tests' tasks depended on its seed and on the thread count
        (``benchmarks/diffmask/robustness.py``).

        Args:
            batches (iterable of dict): Each a dict with ``input_ids`` and
                        ``attention_mask`` (labels are not needed: the
                        constraint keeps the model's own prediction), and
                        ``token_type_ids`` for pairs. A list or DataLoader.
            epochs (int): Passes over ``batches``. Default: 1
            lr (float): The probe's learning rate (Adam). Default: 3e-4
            baseline_lr (float): The baseline vector's. Default: 1e-3
            multiplier_lr (float): The Lagrange multiplier's (RMSprop,
                        ascent). Default: 0.3
            margin (float): m, the KL divergence allowed, in nats. Default: 0.1
            show_progress (bool): A progress bar over steps. Default: False
            seed (int): Seed of the gates' samples. Default: 0

        Returns:
            One dict per epoch with the means of ``kl``, ``l0`` (the expected
            share of tokens kept) and the final ``multiplier``.
        """
        check_int("epochs", epochs, 1)
        for name, value in (
            ("lr", lr),
            ("baseline_lr", baseline_lr),
            ("multiplier_lr", multiplier_lr),
            ("margin", margin),
        ):
            check_float(name, value, 0.0)
        check_int("seed", seed, 0)
        batches = check_batches(batches, epochs)
        probe_optimizer = torch.optim.Adam(
            [
                {"params": list(self.probe.parameters()), "lr": lr},
                {"params": [self.baseline], "lr": baseline_lr},
            ]
        )
        multiplier_optimizer = torch.optim.RMSprop(
            [self.multiplier], lr=multiplier_lr, maximize=True
        )
        device = self.baseline.device
        generator = torch.Generator(device).manual_seed(seed)
        history = []
        with eval_mode(self.model), frozen_parameters(self.model):
            for epoch in range(epochs):
                totals, steps = torch.zeros(2, dtype=torch.float64), 0
                desc = f"DiffMask epoch {epoch + 1}/{epochs}"
                for batch in progress(batches, show_progress, desc):
                    ids, args = _batch_args(batch, device)
                    kl, l0 = self._step(ids, args, generator)
                    probe_optimizer.zero_grad()
                    multiplier_optimizer.zero_grad()
                    lagrangian = (l0 + self.multiplier * (kl - margin)).mean()
                    # Divided by 1 + lambda, so that its gradients keep one
                    # scale as lambda grows (Adam's moments then carry no
                    # large-lambda era's scale into the next).
                    loss = lagrangian / (1 + self.multiplier.detach())
                    loss.backward()
                    probe_optimizer.step()
                    multiplier_optimizer.step()
                    with torch.no_grad():
                        self.multiplier.clamp_(min=0.0)
                    totals += torch.tensor([kl.mean().item(), l0.mean().item()])
                    steps += 1
                if steps == 0:
                    raise ValueError("`batches` is empty.")
                history.append(
                    dict(
                        epoch=epoch,
                        kl=float(totals[0]) / steps,
                        l0=float(totals[1]) / steps,
                        multiplier=float(self.multiplier.detach()),
                    )
                )
                logger.info("DiffMask epoch %d: %s", epoch, history[-1])
        return history

    def _step(
        self, ids: Tensor, args: Tuple, generator: torch.Generator
    ) -> Tuple[Tensor, Tensor]:
        with torch.no_grad(), recording(self._read) as states:
            original = run_forward(self._batch_forward, ids, args)
        logits = self.probe(_present(states))
        samples = hard_concrete_sample(logits, generator)
        gates = samples.prod(-1)
        l0 = log_expected_l0(logits).sum(-1).exp()
        attended = _attended(self._batch_forward, ids, args)
        with gating(self._gated, gates, self.baseline):
            masked = run_forward(self._batch_forward, ids, args)
        kl = _next_token(_kl(original, masked), attended)
        share = (l0 * attended).sum(1) / attended.sum(1).clamp_min(1)
        return kl, share

    @log_usage()
    def attribute(
        self,
        inputs: Union[Tensor, Tuple[Tensor]],
        target: TargetType = None,
        additional_forward_args: Any = None,
        feature_mask: Optional[Tensor] = None,
    ) -> Union[Tensor, Tuple[Tensor]]:
        r"""
        Args:
            inputs (Tensor or tuple[Tensor]): (batch, tokens) token ids; a
                        one-tensor tuple gives a tuple back.
            target (int, list[int], Tensor, optional): The class explained,
                        validated as in every method; the gates keep the whole
                        prediction, so they are the same for every class.
                        Default: None (the predicted class)
            additional_forward_args (Any, optional): Further positional
                        arguments of the model, the attention mask first.
                        Default: None
            feature_mask (Tensor, optional): (batch, tokens) unit ids, negative
                        = excluded (score 0); a unit scores the mean of its
                        tokens' gates. Default: None (every token)

        Returns:
            (batch, tokens) expected gates in [0, 1] (0 on padding), a tuple
            when ``inputs`` is one.
        """
        given_inputs = inputs
        inputs = check_inputs(inputs)
        args = format_additional_forward_args(additional_forward_args, inputs)
        with eval_mode(self.model), torch.no_grad():
            check_model_call(self.model, self._gated, inputs, "DiffMask")
            with recording(self._read) as states:
                output = run_forward(self.forward_func, inputs, args)
            check_finite(output, "The model's output")
            resolve_target(target, output)
            gates = expected_gate(self.probe(_present(states))).prod(-1)
            gates = gates * _attended(self.forward_func, inputs, args)
            if feature_mask is not None:
                gates = unit_means(gates, feature_mask)
        return match_inputs_format(given_inputs, gates.float())

    def divergence(self, inputs: Tensor, additional_forward_args: Any = None) -> Tensor:
        """(batch,) KL divergence of the prediction with the gates at their
        expectation from the model's own, in nats: what :meth:`fit` keeps
        below ``margin`` (with sampled gates), to check on held-out data."""
        inputs = check_inputs(inputs)
        args = format_additional_forward_args(additional_forward_args, inputs)
        forward = self._batch_forward
        with eval_mode(self.model), torch.no_grad():
            with recording(self._read) as states:
                original = run_forward(forward, inputs, args)
            gates = expected_gate(self.probe(_present(states))).prod(-1)
            with gating(self._gated, gates, self.baseline):
                masked = run_forward(forward, inputs, args)
        return _next_token(_kl(original, masked), _attended(forward, inputs, args))

    def save(self, path: PathLike) -> None:
        """Save the probe, the baseline and the multiplier as one safetensors
        file, with the model's fingerprint and the gate's position."""
        tensors = {f"probe.{k}": v for k, v in self.probe.state_dict().items()}
        tensors["baseline"] = self.baseline.detach()
        tensors["multiplier"] = self.multiplier.detach().reshape(1)
        settings = {
            "format": _FORMAT,
            "gate": self.gate,
            "layer": self.layer_index,
            "modules": self._names,
            "fingerprint": model_fingerprint(self.model),
        }
        write_artifact(path, tensors, {"settings": json.dumps(settings)})

    @classmethod
    def load(cls, path: PathLike, model: Module) -> "DiffMask":
        """Load a file written by :meth:`save` for ``model``.

        Raises:
            FileNotFoundError: no file at ``path``.
            ValueError: not a DiffMask file, or made for another model.
        """
        # Probes saved before files had checksums still load.
        header, tensors = read_artifact(path, "DiffMask", require_checksum=False)
        settings = json.loads(header.get("settings", "{}"))
        if settings.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a DiffMask file (format {_FORMAT}).")
        check_same_model(
            settings["fingerprint"],
            model,
            f"The DiffMask probe in {path} was trained for another model (its "
            "{differ} differ): fit a probe for this model.",
        )
        modules = [model.get_submodule(name) for name in settings["modules"]]
        diffmask = cls(
            model,
            gate=settings["gate"],
            layer_index=int(settings["layer"]),
            embeddings=modules[0],
            layers=modules[1:],
        )
        device = diffmask.baseline.device
        diffmask.probe.load_state_dict(
            {
                k[len("probe.") :]: v.to(device)
                for k, v in tensors.items()
                if k.startswith("probe.")
            }
        )
        with torch.no_grad():
            diffmask.baseline.copy_(tensors["baseline"])
            diffmask.multiplier.copy_(tensors["multiplier"][0])
        return diffmask


def _present(states: List[Optional[Tensor]]) -> List[Tensor]:
    if any(s is None for s in states):
        raise ValueError(
            "a layer DiffMask reads was not called by the model's forward: "
            "pass the `embeddings` and `layers` the model runs."
        )
    return [s for s in states if s is not None]


def _attended(forward_func: Any, ids: Tensor, args: Tuple) -> Tensor:
    mask = attention_mask_of(forward_func, ids, args)
    if mask is None:
        return torch.ones(ids.shape[:2], device=ids.device)
    return mask.to(torch.float32)


def _kl(original: Tensor, masked: Tensor) -> Tensor:
    """KL(p(y|x) || p(y|masked x)) per example."""
    if original.dim() == 1 or original.shape[-1] == 1:
        p, q = logits_to_probabilities(original), logits_to_probabilities(masked)
        p, q = torch.stack([p, 1 - p], -1).flatten(1), torch.stack(
            [q, 1 - q], -1
        ).flatten(1)
        return (p * (p.clamp_min(1e-12).log() - q.clamp_min(1e-12).log())).sum(-1)
    log_p = torch.log_softmax(original.float(), -1)
    log_q = torch.log_softmax(masked.float(), -1)
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def _next_token(kl: Tensor, attended: Tensor) -> Tensor:
    """A causal LM's divergence is per position; the prediction explained is
    the next token after the prompt: its last attended position."""
    if kl.dim() == 1:
        return kl
    last = attended.sum(1).long().clamp_min(1) - 1
    return kl.gather(1, last.unsqueeze(1)).squeeze(1)


def _by_name(model: Module) -> Any:
    """How :meth:`DiffMask.fit` calls ``model`` on a batch: positionally, as a
    classifier takes (input_ids, attention_mask, token_type_ids), or by name
    where the second parameter is a cache (GPT-2's)."""
    parameters = list(inspect.signature(model.forward).parameters)
    if len(parameters) < 2 or parameters[1] not in ("past_key_values", "cache"):
        return model

    def forward(
        input_ids: Tensor,
        attention_mask: Optional[Tensor] = None,
        token_type_ids: Optional[Tensor] = None,
    ) -> Any:
        named = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        return model(input_ids=input_ids, attention_mask=attention_mask, **named)

    return forward


def _input_embeddings(model: Module) -> Optional[Module]:
    get = getattr(model, "get_input_embeddings", None)
    layer = get() if callable(get) else None
    return layer if isinstance(layer, Module) else None


def _batch_args(batch: Any, device: torch.device) -> Tuple[Tensor, Tuple]:
    if not isinstance(batch, Mapping) or "input_ids" not in batch:
        raise TypeError(
            "each of `batches` must be a dict with `input_ids` and `attention_mask`."
        )
    ids = batch["input_ids"].to(device)
    mask = batch.get("attention_mask")
    if mask is None:
        mask = torch.ones_like(ids)
    args: Tuple = (mask.to(device),)
    if batch.get("token_type_ids") is not None:
        args += (batch["token_type_ids"].to(device),)
    return ids, args


def _hidden_size(model: Module, embeddings: Module) -> int:
    size = getattr(getattr(model, "config", None), "hidden_size", None)
    if not isinstance(size, int):
        size = getattr(embeddings, "embedding_dim", None)
    if not isinstance(size, int):
        raise ValueError("cannot tell the hidden size: `model.config.hidden_size`.")
    return size


def _positions(model: Module) -> int:
    """Positions the model reads (its config's), 512 when it does not say."""
    size = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    return size if isinstance(size, int) and size > 0 else 512
