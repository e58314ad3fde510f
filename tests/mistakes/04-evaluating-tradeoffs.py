"""Realistic wrong answers for 04-evaluating-tradeoffs; each must lose exactly its exercise's points."""

MISTAKES = [
    # Ex 1: "global" read as "every layer", so both scopes prune each layer by the same fraction.
    dict(name="global-is-per-layer", cell="ex1-prune-l1",
         body='if scope not in ("global", "layer"):\n'
              '    raise ValueError(f"unknown scope {scope!r}")\n'
              "for module, name in pruning.parameters_to_prune(model):\n"
              "    prune.l1_unstructured(module, name, amount=amount)\n"
              "return model"),
    # Ex 2: the ratio upside down (CSR bytes over dense bytes).
    dict(name="ratio-inverted", cell="ex2-compression-ratio",
         body="sparse_bytes = pruning.serialized_size(pruned_model, sparse=True)\n"
              "return sparse_bytes / pruning.serialized_size(dense_model)"),
    # Ex 2: parameters over non-zeros, as if CSR stored only the values (no indices, no file format).
    dict(name="parameter-count-ratio", cell="ex2-compression-ratio",
         body="count = pruning.count_parameters(pruned_model)\nreturn count.total / count.nonzero"),
    # Ex 3: the drop compared in percentage points against a budget given as a fraction.
    dict(name="budget-in-percent", cell="ex3-highest-sparsity",
         body='drops = [(row["sparsity"], 100 * (dense_accuracy - row["accuracy"])) for row in rows]\n'
              "return max([s for s, drop in drops if drop <= budget], default=0.0)"),
    # Ex 3: strict < at the boundary: a drop exactly equal to the budget is rejected.
    dict(name="strict-boundary", cell="ex3-highest-sparsity",
         body='within = [row["sparsity"] for row in rows if dense_accuracy - row["accuracy"] < budget]\n'
              "return max(within, default=0.0)"),
    # Ex 3: assumes the rows are sorted by sparsity and keeps the last one that fits.
    dict(name="assumes-sorted-rows", cell="ex3-highest-sparsity",
         body="best = 0.0\n"
              "for row in rows:\n"
              '    if dense_accuracy - row["accuracy"] <= budget:\n'
              '        best = row["sparsity"]\n'
              "return best"),
    # Ex 3: returns the amount of the best row, which is the sparsity only for one-shot pruning.
    dict(name="returns-amount", cell="ex3-highest-sparsity",
         body='within = [row for row in rows if dense_accuracy - row["accuracy"] <= budget]\n'
              'return max(within, key=lambda row: row["sparsity"])["amount"] if within else 0.0'),
]
