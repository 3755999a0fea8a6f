"""Special token ids (padding, mask...) looked up the same way everywhere:
the value given, then the tokenizer's, then the model's, then its config's."""

from typing import Any, Optional


def first_token_id(name: str, *candidates: Any) -> Optional[int]:
    """The first candidate that is not None; it must be an int (``name``, the
    argument the user gives, names it in the error). None when all are None."""
    for value in candidates:
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"`{name}` must be an int; got {type(value).__name__}.")
            return value
    return None


def token_id(
    name: str, given: Any = None, tokenizer: Any = None, model: Any = None
) -> Optional[int]:
    """``name`` (e.g. ``"pad_token_id"``): ``given``, else the tokenizer's,
    else the model's own attribute (a wrapper such as ``WindowedClassifier``
    has no config but knows its padding id), else ``model.config``'s (a model
    or config value that is not an int is ignored)."""
    own = getattr(model, name, None)
    config_value = getattr(getattr(model, "config", None), name, None)
    return first_token_id(
        name,
        given,
        getattr(tokenizer, name, None),
        own if _is_id(own) else None,
        config_value if _is_id(config_value) else None,
    )


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
