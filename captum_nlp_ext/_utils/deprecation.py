"""Renamed arguments keep working for one release, with a FutureWarning."""

import dataclasses
import functools
import inspect
from typing import Any, Callable, Optional, Sequence, Tuple, TypeVar, Union

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


def keyword_only_after(
    count: int, order: Optional[Sequence[str]] = None
) -> Callable[[F], F]:
    """Options became keyword-only (after ``*``): positional options keep
    working for one release, each mapped to its name, with a FutureWarning.
    ``order`` gives the names the positions had when options were positional,
    where some have since moved (to the constructor, for instance)."""

    def decorate(func: F) -> F:
        names = (
            list(order)
            if order is not None
            else list(inspect.signature(func).parameters)[count:]
        )

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


def moved_to_constructor(
    *names: str, into: Optional[str] = None, check: Optional[str] = None
) -> Callable[[F], F]:
    """Method arguments that moved to the class's constructor keep working for
    one release: given to the method, they apply to that call only, with a
    FutureWarning, and are checked as the constructor checks them: by the
    instance's method named ``check`` (which the constructor calls too), or,
    with ``into``, by the settings object (a frozen dataclass) that the
    instance keeps as that attribute, of which the call gets a copy with the
    given values."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            moved = {name: kwargs.pop(name) for name in names if name in kwargs}
            if not moved:
                return func(self, *args, **kwargs)
            given = ", ".join(f"`{name}`" for name in moved)
            where = f"{type(self).__name__}(...)"
            if into is not None:
                kind = type(getattr(self, into)).__name__
                where = f"{type(self).__name__}({into}={kind}(...))"
            warn_caller(
                f"passing {given} to `{func.__name__}` is deprecated and will be "
                f"removed in {REMOVED_IN}; pass it to {where}.",
                FutureWarning,
            )
            if into is not None:
                moved = {into: dataclasses.replace(getattr(self, into), **moved)}
            saved = {name: getattr(self, name) for name in moved}
            try:
                for name, value in moved.items():
                    setattr(self, name, value)
                if check is not None:
                    getattr(self, check)()
                return func(self, *args, **kwargs)
            finally:
                for name, value in saved.items():
                    setattr(self, name, value)

        return wrapper  # type: ignore[return-value]

    return decorate


def grouped_into(into: str, kind: Callable[..., Any], *names: str) -> Callable[[F], F]:
    """Arguments that moved into a settings object (``kind``, given as
    ``into``) keep working for one release: given alone, they make that
    object, with a FutureWarning; given beside ``into``, a TypeError."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            moved = {name: kwargs.pop(name) for name in names if name in kwargs}
            if not moved:
                return func(*args, **kwargs)
            given = ", ".join(f"`{name}`" for name in moved)
            if kwargs.get(into) is not None:
                raise TypeError(f"pass {given} inside `{into}` only, not beside it.")
            owner, _, member = func.__qualname__.rpartition(".")
            where = owner if member == "__init__" else func.__qualname__
            warn_caller(
                f"passing {given} to {where} is "
                f"deprecated and will be removed in {REMOVED_IN}; pass "
                f"{into}={kind.__name__}(...).",
                FutureWarning,
            )
            kwargs[into] = kind(**moved)
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def dropped_argument(name: str, why: str) -> Callable[[F], F]:
    """An argument that never had an effect is accepted for one release, with
    a FutureWarning that says why it goes."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if name in kwargs:
                kwargs.pop(name)
                warn_caller(
                    f"`{name}` has no effect in {func.__name__} ({why}) and will "
                    f"be removed in {REMOVED_IN}; leave it out.",
                    FutureWarning,
                )
            return func(*args, **kwargs)

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
