"""A model's fingerprint: what a saved artifact (a reference index, a probe,
a run's cache) records to refuse another model."""

import hashlib
import json
from typing import Dict

from torch.nn import Module

_FINGERPRINT_SAMPLES = 1024


def model_fingerprint(model: Module) -> Dict[str, str]:
    """Hashes of a model's configuration and of a sample of every weight.

    The configuration hash skips fields that do not change the model (its
    path, the library version, the load dtype); the weight hash covers, for
    every tensor of the state dict, its name, shape and up to 1024 evenly spaced
    values, so a fine-tuned copy differs from its base model.
    """
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "to_dict"):
        fields = {
            k: v
            for k, v in config.to_dict().items()
            if not k.startswith("_")
            and k not in ("transformers_version", "torch_dtype", "dtype")
        }
        text = json.dumps(fields, sort_keys=True, default=str)
    else:
        text = type(model).__qualname__
    weights = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        flat = tensor.detach().reshape(-1)
        step = max(1, flat.numel() // _FINGERPRINT_SAMPLES)
        sample = flat[::step][:_FINGERPRINT_SAMPLES].cpu()
        sample = sample.double() if sample.is_floating_point() else sample.long()
        weights.update(f"{name}{tuple(tensor.shape)}".encode())
        weights.update(sample.numpy().tobytes())
    return {
        "config": hashlib.sha256(text.encode()).hexdigest(),
        "weights": weights.hexdigest(),
    }
