"""Realistic wrong answers for 01-l1-unstructured; each must lose exactly its exercise's points."""

MISTAKES = [
    dict(name="density-for-sparsity", cell="ex1-sparsity",
         body="return torch.count_nonzero(tensor).item() / tensor.numel()"),
    dict(name="sparsity-in-percent", cell="ex1-sparsity",
         body="return 100 * (tensor == 0).sum().item() / tensor.numel()"),
    dict(name="tiny-values-as-zero", cell="ex1-sparsity",
         body="return (tensor.abs() < 1e-4).float().mean().item()"),
    dict(name="floor-instead-of-round", cell="ex2-num-to-prune",
         body="if isinstance(amount, int):\n    return amount\nreturn int(amount * num_weights)"),
    dict(name="int-amount-as-fraction", cell="ex2-num-to-prune",
         body="return round(amount * num_weights)"),
    dict(name="infinite-loop", cell="ex2-num-to-prune",
         source="def num_to_prune(num_weights, amount):\n    return 3\n\nwhile True:\n    pass"),
    dict(name="random-mask", cell="ex3-prune-smallest",
         body='prune.random_unstructured(layer, name="weight", amount=amount)\nreturn layer'),
    dict(name="prunes-bias", cell="ex3-prune-smallest",
         body='prune.l1_unstructured(layer, name="bias", amount=amount)\nreturn layer'),
    dict(name="amount-as-percent", cell="ex3-prune-smallest",
         body='prune.l1_unstructured(layer, name="weight", amount=amount * 100)\nreturn layer'),
    dict(name="round-half-up", cell="ex2-num-to-prune",
         body="if isinstance(amount, int):\n    return amount\nreturn int(amount * num_weights + 0.5)"),
]
