"""Finding a classifier's stack of blocks, its head and its embeddings, for the
metrics that compare models layer by layer."""

from typing import List, Tuple

from torch.nn import Module, ModuleList


def encoder_blocks(model: Module) -> Tuple[str, ModuleList]:
    """The model's stack of repeated blocks: its longest ``ModuleList`` with
    parameters (BERT's ``encoder.layer``, DistilBERT's ``transformer.layer``,
    GPT-2's ``h``), as ``(name, modules)``."""
    best: Tuple[str, ModuleList] = ("", ModuleList())
    for name, module in model.named_modules():
        if (
            isinstance(module, ModuleList)
            and len(module) > len(best[1])
            and any(True for _ in module.parameters())
        ):
            best = (name, module)
    if not len(best[1]):
        raise ValueError(
            f"No stack of layers (an nn.ModuleList) found in {type(model).__name__}: "
            "name the layers or stages explicitly."
        )
    return best


def randomization_stages(model: Module) -> List[Tuple[str, List[str]]]:
    """The cascade of model randomization, from the top: the head (every
    parameter registered after the blocks: BERT's pooler and classifier), each
    block from the last to the first, then the embeddings (every parameter
    registered before the blocks).

    Returns ``(stage name, parameter names)`` pairs; tied parameters are listed
    once.
    """
    prefix, blocks = encoder_blocks(model)
    names = [name for name, _ in model.named_parameters()]
    block_of = {}
    for index in range(len(blocks)):
        start = f"{prefix}.{index}." if prefix else f"{index}."
        for name in names:
            if name.startswith(start):
                block_of[name] = index
    positions = [i for i, name in enumerate(names) if name in block_of]
    first, last = positions[0], positions[-1]
    stages: List[Tuple[str, List[str]]] = []
    head = [n for n in names[last + 1 :] if n not in block_of]
    if head:
        stages.append(("head", head))
    members: List[List[str]] = [[] for _ in blocks]
    current = 0
    for name in names[first : last + 1]:
        # A parameter between blocks belongs with the block registered before it.
        current = block_of.get(name, current)
        members[current].append(name)
    for index in reversed(range(len(blocks))):
        if members[index]:
            stages.append(
                (f"{prefix}.{index}" if prefix else str(index), members[index])
            )
    embeddings = [n for n in names[:first] if n not in block_of]
    if embeddings:
        stages.append(("embeddings", embeddings))
    return stages
