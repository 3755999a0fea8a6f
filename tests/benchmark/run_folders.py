"""Run folders written by hand to the schema-1 contract, for the report tests."""

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

SCRIPT = "<script>window.__pwned = 1</script>"

WORDS = {
    0: ["a", "fine", "film"],
    1: ["say", SCRIPT, "&", '"hi"'],
    2: ["dull", "plot"],
}
RATIONALE = {0: [0, 1, 0]}
LABEL = {0: 1, 1: 0, 2: 0}

# method -> metric -> per-example values (None: undefined for that example).
METRICS: Dict[str, Dict[str, List[Optional[float]]]] = {
    "nlgp": {
        "comprehensiveness": [0.5, 0.3, 0.4],
        "sufficiency": [0.1, None, 0.2],
        "deletion_auc": [0.2, 0.3, 0.1],
    },
    "lig": {
        "comprehensiveness": [0.2, 0.1, 0.3],
        "sufficiency": [0.3, 0.2, 0.1],
        "deletion_auc": [0.4, 0.5, 0.3],
    },
    "random": {
        "comprehensiveness": [0.0, 0.1],
        "sufficiency": [0.5, 0.4],
        "deletion_auc": [0.6, 0.7],
    },
}
SECONDS = {"nlgp": 0.5, "lig": 0.25, "random": 0.001}
FORWARD_ROWS = {"nlgp": 130, "lig": 51, "random": 0}


def settings(methods: List[str]) -> Dict[str, Any]:
    return {
        "schema": 1,
        "model": "models/minilm-sst2",
        "dataset": "sst2",
        "split": "dev",
        "n": 3,
        "methods": methods,
        "metrics": ["comprehensiveness", "sufficiency", "deletion_auc"],
        "budget": 128,
        "seed": 0,
        "batch_size": 2,
        "max_length": 128,
        "window": None,
        "method_settings": {
            m: {
                "description": f"{m} <i>described</i>",
                "family": "ours" if m == "nlgp" else "captum",
                "kind": "perturbation",
                "settings": {"n_samples": 128},
            }
            for m in methods
        },
        "metric_settings": {
            "comprehensiveness": {
                "description": "AOPC comprehensiveness",
                "higher_is_better": True,
                "group": "faithfulness",
            },
            "sufficiency": {
                "description": "AOPC sufficiency",
                "higher_is_better": False,
                "group": "faithfulness",
            },
            "deletion_auc": {
                "description": "area under the deletion curve",
                "higher_is_better": False,
                "group": "faithfulness",
            },
        },
        "started": "2026-11-23T10:00:00",
        "machine": "test box <b>&</b>",
        "versions": {"torch": "2.13.0", "captum": "0.9.0"},
    }


def record(method: str, example: int) -> Dict[str, Any]:
    words = WORDS[example]
    values = METRICS[method]
    scores = [((i + example) % 3 - 1) * 0.5 for i in range(len(words))]
    return {
        "example": example,
        "method": method,
        "words": words,
        "label": LABEL[example],
        "prediction": LABEL[example],
        "target": LABEL[example],
        "probability": 0.9,
        "rationale": RATIONALE.get(example),
        "scores": scores,
        "metrics": {m: v[example] for m, v in values.items()},
        "curves": {
            "percents": [0, 50, 100],
            "deletion": [0.9, 0.9 - 0.2 * (1 + example), 0.1],
            "insertion": [0.1, 0.5, 0.9],
        },
        "cost": {
            "seconds": SECONDS[method],
            "forward_rows": FORWARD_ROWS[method],
            "backward_rows": 0,
            "peak_memory_bytes": 5 * 2**20,
            "memory_source": "rss",
        },
    }


def write_run(
    folder: Path, methods: Optional[List[str]] = None, torn: bool = False
) -> Path:
    """Write run.json and results.jsonl; ``random`` has only examples 0 and 1
    (a partial run), the others all three."""
    methods = list(METRICS) if methods is None else methods
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps(settings(methods)))
    lines = [
        json.dumps(record(method, example))
        for example in WORDS
        for method in methods
        if method in METRICS and example < len(METRICS[method]["comprehensiveness"])
    ]
    text = "\n".join(lines) + "\n"
    if torn:
        text += json.dumps(record("lig", 0))[:40]
    (folder / "results.jsonl").write_text(text)
    return folder
