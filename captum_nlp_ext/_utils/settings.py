"""How a folder's stored settings differ from a run's: what a resumed run
(a benchmark run, a corpus run) must match, said briefly."""

from typing import Any, Iterable, List, Mapping


def settings_differences(
    stored: Mapping[str, Any], current: Mapping[str, Any], ignore: Iterable[str] = ()
) -> List[str]:
    """Keys (besides those in ``ignore``) whose values differ."""
    keys = (set(stored) | set(current)) - set(ignore)
    return sorted(k for k in keys if stored.get(k) != current.get(k))


def describe_differences(
    stored: Mapping[str, Any], current: Mapping[str, Any], keys: List[str]
) -> str:
    """The settings that differ, each as its path and its two values, short:
    nested dicts are compared key by key (``method_settings.lafa``), and a
    key one side lacks is named, not dumped."""
    parts: List[str] = []

    def walk(path: str, old: Any, new: Any) -> None:
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            for key in sorted(set(old) | set(new), key=str):
                if old.get(key) != new.get(key):
                    walk(f"{path}.{key}", old.get(key), new.get(key))
            return
        if old is None or new is None:
            where = "now only" if old is None else "only in the folder"
            parts.append(f"{path} {where}")
            return
        parts.append(f"{path}: {_short(old)} in the folder, {_short(new)} now")

    for key in keys:
        walk(key, stored.get(key), current.get(key))
    return "; ".join(parts)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
