"""Realistic wrong answers for 02-pruning-masks; each must lose exactly its own exercise's points."""

MISTAKES = [
    # ex1: reads the attribute the hook only refreshes on the next forward pass.
    dict(name="stale-weight", cell="ex1-effective-weight", body="""
return module.weight
"""),
    # ex1: returns the stored original weights, forgetting to apply the mask.
    dict(name="orig-without-mask", cell="ex1-effective-weight", body="""
if hasattr(module, "weight_orig"):
    return module.weight_orig
return module.weight
"""),
    # ex1: "applies the mask" by overwriting weight_orig in place (the pruned values are lost).
    dict(name="mask-applied-in-place", cell="ex1-effective-weight", body="""
if hasattr(module, "weight_orig"):
    with torch.no_grad():
        module.weight_orig.mul_(module.weight_mask)
    return module.weight_orig
return module.weight
"""),
    # ex2: adds the amounts as if each were a fraction of all weights.
    dict(name="sum-of-amounts", cell="ex2-compounded-sparsity", body="""
return min(sum(amounts), 1.0)
"""),
    # ex2: right formula, but a percentage instead of a fraction.
    dict(name="percent-not-fraction", cell="ex2-compounded-sparsity", body="""
remaining = 1.0
for amount in amounts:
    remaining *= 1 - amount
return 100 * (1 - remaining)
"""),
    # ex3: the difference of sparsities, i.e. an amount of all weights instead of what is left.
    dict(name="difference-not-rescaled", cell="ex3-amount-for-target", body="""
if target < sparsity:
    raise ValueError(f"target {target} is below the current sparsity {sparsity}")
return target - sparsity
"""),
    # ex4: counts parameters only, missing the weight_mask buffer (and BatchNorm's buffers).
    dict(name="parameters-only", cell="ex4-state-dict-bytes", body="""
return sum(p.numel() * p.element_size() for p in module.parameters())
"""),
    # ex4: assumes every element is a 4-byte float32.
    dict(name="four-bytes-each", cell="ex4-state-dict-bytes", body="""
return sum(4 * t.numel() for t in module.state_dict().values())
"""),
]
