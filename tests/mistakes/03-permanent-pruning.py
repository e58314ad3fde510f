"""Realistic wrong answers for 03-permanent-pruning; each must lose exactly its own exercise."""

MISTAKES = [
    # Only the weight is made permanent: a pruned bias keeps its bias_orig/bias_mask and hook.
    dict(name="only-weight", cell="ex1-make-permanent", body="""
for module in model.modules():
    if hasattr(module, "weight_mask"):
        prune.remove(module, "weight")
return model
"""),
    # prune.remove on every Linear: raises ValueError for a layer that was never pruned.
    dict(name="remove-every-linear", cell="ex1-make-permanent", body="""
for module in model.modules():
    if isinstance(module, nn.Linear):
        prune.remove(module, "weight")
return model
"""),
    # prune.remove never called, only the hooks dropped: weight_orig and weight_mask stay and
    # .weight is a stale plain tensor that no optimizer will ever update.
    dict(name="hooks-only", cell="ex1-make-permanent", body="""
for module in model.modules():
    module._forward_pre_hooks.clear()
return model
"""),
    # weight_orig renamed to weight without the mask: the pruned weights come back.
    dict(name="orig-as-weight", cell="ex2-plain-state-dict", body="""
plain = {}
for key, tensor in state_dict.items():
    if key.endswith("_mask"):
        continue
    plain[key.removesuffix("_orig")] = tensor
return plain
"""),
    # The product is stored, but the masks are kept: strict loading rejects the extra keys.
    dict(name="keep-masks", cell="ex2-plain-state-dict", body="""
plain = {}
for key, tensor in state_dict.items():
    if key.endswith("_orig"):
        name = key.removesuffix("_orig")
        plain[name] = tensor * state_dict[name + "_mask"]
    else:
        plain[key] = tensor
return plain
"""),
    # Every key split into "<prefix>.<name>": a module pruned on its own has keys without a prefix.
    dict(name="assumes-a-prefix", cell="ex2-plain-state-dict", body="""
plain = {}
for key, tensor in state_dict.items():
    prefix, name = key.rsplit(".", 1)
    if name.endswith("_mask"):
        continue
    if name.endswith("_orig"):
        base = f"{prefix}.{name.removesuffix('_orig')}"
        plain[base] = tensor * state_dict[base + "_mask"]
    else:
        plain[key] = tensor
return plain
"""),
    # CSR written back into the dict it was given, which the cells after it still save as dense.
    dict(name="converts-in-place", cell="ex3-to-csr", body="""
for key, tensor in state_dict.items():
    if tensor.is_floating_point() and tensor.dim() == 2:
        state_dict[key] = tensor.to_sparse_csr()
return state_dict
"""),
    # COO instead of CSR.
    dict(name="coo-not-csr", cell="ex3-to-csr", body="""
return {key: tensor.to_sparse() if tensor.is_floating_point() and tensor.dim() == 2 else tensor
        for key, tensor in state_dict.items()}
"""),
    # Every tensor converted, 1-D biases included: to_sparse_csr raises for them.
    dict(name="all-tensors", cell="ex3-to-csr", body="""
return {key: tensor.to_sparse_csr() for key, tensor in state_dict.items()}
"""),
    # Ex 3: every floating-point tensor with 2 or more dimensions, so conv weights (4-D) become CSR too.
    dict(name="csr-for-conv-weights-too", cell="ex3-to-csr",
         body="return {key: tensor.reshape(tensor.shape[0], -1).to_sparse_csr()\n"
              "        if tensor.is_floating_point() and tensor.dim() >= 2 else tensor\n"
              "        for key, tensor in state_dict.items()}"),
]
