"""Private machinery shared by every method and metric of captum-nlp-ext.

Each mechanism has exactly one home here: layer hooks (:mod:`.hooks`), batched
evaluation of perturbed copies (:mod:`.batching`), units of attribution
(:mod:`.units`), target selection (:mod:`.targets`), argument validation
(:mod:`.validation`) and seeded randomness (:mod:`.random`).
"""
