"""Renamed arguments keep working for one release, with a FutureWarning."""

import functools
import inspect
from typing import Any, Callable, Tuple, TypeVar, Union

from captum_nlp_ext._utils.messages import warn_caller

F = TypeVar("F", bound=Callable[..., Any])
Rename = Union[str, Tuple[str, Callable[[Any], Any]]]

#: The release that removes the deprecated names.
REMOVED_IN = "0.3"


def renamed_arguments(**renames: Rename) -> Callable[[F], F]:
    """Accept old keyword names: ``@renamed_arguments(sigma="stdevs")``, or
    ``apply_softmax=("output", lambda v: "logits" if v else "probs")`` when the
    value changes form too. Passing both names is a TypeError."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, rename in renames.items():
                if old not in kwargs:
                    continue
                new, convert = (rename, None) if isinstance(rename, str) else rename
                if new in kwargs:
                    raise TypeError(
                        f"pass `{new}` only: `{old}` is its deprecated name."
                    )
                warn_caller(
                    f"`{old}` is deprecated and will be removed in {REMOVED_IN}; "
                    f"use `{new}`.",
                    FutureWarning,
                )
                value = kwargs.pop(old)
                kwargs[new] = value if convert is None else convert(value)
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def keyword_only_after(count: int) -> Callable[[F], F]:
    """Options became keyword-only (after ``*``): positional options keep
    working for one release, each mapped to its name, with a FutureWarning."""

    def decorate(func: F) -> F:
        names = list(inspect.signature(func).parameters)[count:]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if len(args) > count:
                extra = args[count:]
                if len(extra) > len(names):
                    raise TypeError(
                        f"{func.__name__}() takes {count} positional arguments "
                        f"and {len(names)} options; got {len(args)} arguments."
                    )
                passed = names[: len(extra)]
                for name in passed:
                    if name in kwargs:
                        raise TypeError(
                            f"{func.__name__}() got `{name}` twice, by position "
                            "and by name."
                        )
                warn_caller(
                    f"passing {', '.join(f'`{n}`' for n in passed)} by position "
                    f"is deprecated and will be removed in {REMOVED_IN}; pass "
                    "them by name.",
                    FutureWarning,
                )
                kwargs.update(zip(passed, extra))
                args = args[:count]
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def moved_to_constructor(*names: str) -> Callable[[F], F]:
    """Method arguments that moved to the class's constructor keep working for
    one release: given to the method, they apply to that call only, with a
    FutureWarning."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            moved = {name: kwargs.pop(name) for name in names if name in kwargs}
            if not moved:
                return func(self, *args, **kwargs)
            given = ", ".join(f"`{name}`" for name in moved)
            warn_caller(
                f"passing {given} to `{func.__name__}` is deprecated and will be "
                f"removed in {REMOVED_IN}; pass it to {type(self).__name__}(...).",
                FutureWarning,
            )
            saved = {name: getattr(self, name) for name in moved}
            try:
                for name, value in moved.items():
                    setattr(self, name, value)
                return func(self, *args, **kwargs)
            finally:
                for name, value in saved.items():
                    setattr(self, name, value)

        return wrapper  # type: ignore[return-value]

    return decorate


def warn_renamed(old: str, new: str) -> None:
    """The FutureWarning of a renamed function or flag."""
    warn_caller(
        f"`{old}` is deprecated and will be removed in {REMOVED_IN}; use `{new}`.",
        FutureWarning,
    )


def softmax_flag(apply_softmax: Any) -> str:
    """The old ``apply_softmax`` flag as the ``output`` it meant."""
    return "logits" if apply_softmax else "probs"
