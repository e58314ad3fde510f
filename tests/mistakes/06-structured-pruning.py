"""Realistic wrong answers for 06-structured-pruning; each must lose exactly its exercise's points."""

CHECK = "if not 0 <= amount < 1:\n    raise ValueError(f'amount must be in [0, 1), got {amount!r}')\n"

# Ex 2 answers below build the new layers like this and differ only in what they copy.
NEW_LAYERS = ("new_first = nn.Linear(first.in_features, len(keep), bias=first.bias is not None)\n"
              "new_second = nn.Linear(len(keep), second.out_features, bias=second.bias is not None)\n")

MISTAKES = [
    # Ex 1: L1 norms (prune.l1_unstructured's criterion) where ln_structured(n=2) ranks by L2.
    dict(name="l1-norm", cell="ex1-rows-to-keep",
         body=CHECK + "norms = weight.detach().flatten(1).abs().sum(dim=1)\n"
                      "num_keep = len(norms) - round(amount * len(norms))\n"
                      "return norms.topk(num_keep).indices.sort().values"),
    # Ex 1: topk's order (largest norm first), not the rows' order.
    dict(name="unsorted", cell="ex1-rows-to-keep",
         body=CHECK + "norms = weight.detach().flatten(1).norm(p=2, dim=1)\n"
                      "return norms.topk(len(norms) - round(amount * len(norms))).indices"),
    # Ex 1: the amount read as the fraction to keep (density for sparsity).
    dict(name="density-for-sparsity", cell="ex1-rows-to-keep",
         body=CHECK + "norms = weight.detach().flatten(1).norm(p=2, dim=1)\n"
                      "return norms.topk(round(amount * len(norms))).indices.sort().values"),
    # Ex 1: int() truncates where torch rounds (0.3 of 5 rows drops 2, not 1).
    dict(name="truncates", cell="ex1-rows-to-keep",
         body=CHECK + "norms = weight.detach().flatten(1).norm(p=2, dim=1)\n"
                      "num_keep = len(norms) - int(amount * len(norms))\n"
                      "return norms.topk(num_keep).indices.sort().values"),
    # Ex 1: right rows, but no check that one row stays: a 1-row weight at amount=0.9 gives an empty tensor.
    dict(name="drops-every-row", cell="ex1-rows-to-keep",
         body=CHECK + "norms = weight.detach().flatten(1).norm(p=2, dim=1)\n"
                      "num_keep = len(norms) - round(amount * len(norms))\n"
                      "return norms.topk(num_keep).indices.sort().values"),
    # Ex 2: the classic one: rows of the first layer removed, the second layer's columns kept.
    dict(name="forgets-next-columns", cell="ex2-shrink-linear-pair",
         body="new_first = nn.Linear(first.in_features, len(keep), bias=first.bias is not None)\n"
              "new_second = nn.Linear(second.in_features, second.out_features,\n"
              "                       bias=second.bias is not None)\n"
              "with torch.no_grad():\n"
              "    new_first.weight.copy_(first.weight[keep])\n"
              "    new_second.weight.copy_(second.weight)\n"
              "    if first.bias is not None:\n"
              "        new_first.bias.copy_(first.bias[keep])\n"
              "    if second.bias is not None:\n"
              "        new_second.bias.copy_(second.bias)\n"
              "return new_first, new_second"),
    # Ex 2: the second layer's bias is the old Parameter itself: fine-tuning changes both models.
    dict(name="shares-bias", cell="ex2-shrink-linear-pair",
         body=NEW_LAYERS
              + "with torch.no_grad():\n"
                "    new_first.weight.copy_(first.weight[keep])\n"
                "    new_second.weight.copy_(second.weight[:, keep])\n"
                "    if first.bias is not None:\n"
                "        new_first.bias.copy_(first.bias[keep])\n"
                "new_second.bias = second.bias\n"
                "return new_first, new_second"),
    # Ex 2: right for layers with biases, crashes on bias=False.
    dict(name="assumes-bias", cell="ex2-shrink-linear-pair",
         body="new_first = nn.Linear(first.in_features, len(keep))\n"
              "new_second = nn.Linear(len(keep), second.out_features)\n"
              "with torch.no_grad():\n"
              "    new_first.weight.copy_(first.weight[keep])\n"
              "    new_second.weight.copy_(second.weight[:, keep])\n"
              "    new_first.bias.copy_(first.bias[keep])\n"
              "    new_second.bias.copy_(second.bias)\n"
              "return new_first, new_second"),
    # Ex 2: shrinks the given layers in place and returns them.
    dict(name="in-place", cell="ex2-shrink-linear-pair",
         body="first.weight = nn.Parameter(first.weight.detach()[keep])\n"
              "if first.bias is not None:\n"
              "    first.bias = nn.Parameter(first.bias.detach()[keep])\n"
              "first.out_features = len(keep)\n"
              "second.weight = nn.Parameter(second.weight.detach()[:, keep])\n"
              "second.in_features = len(keep)\n"
              "return first, second"),
    # Ex 3: FLOPs, not MACs (FlopCounterMode counts 2 per multiply-accumulate).
    dict(name="flops-not-macs", cell="ex3-macs-per-example",
         body="with torch.no_grad(), FlopCounterMode(display=False) as counter:\n"
              "    model(example_input)\n"
              "return int(counter.get_total_flops() // len(example_input))"),
    # Ex 3: the whole batch's MACs (right only for a batch of one).
    dict(name="per-batch", cell="ex3-macs-per-example",
         body="with torch.no_grad(), FlopCounterMode(display=False) as counter:\n"
              "    model(example_input)\n"
              "return int(counter.get_total_flops() // 2)"),
    # Ex 3: parameters counted as MACs.
    dict(name="counts-parameters", cell="ex3-macs-per-example",
         body="return sum(p.numel() for p in model.parameters())"),
    # Ex 4: the mask in bits, not bytes.
    dict(name="mask-in-bits", cell="ex4-compact-bytes",
         body="return weight.numel() + int((weight != 0).sum()) + 4"),
    # Ex 4: round() instead of rounding up (right whenever the fraction is at least a half).
    dict(name="mask-round", cell="ex4-compact-bytes",
         body="return round(weight.numel() / 8) + int((weight != 0).sum()) + 4"),
    # Ex 4: every value stored, zeros included.
    dict(name="stores-zeros", cell="ex4-compact-bytes",
         body="return math.ceil(weight.numel() / 8) + weight.numel() + 4"),
    # Ex 4: values kept as float32.
    dict(name="float32-values", cell="ex4-compact-bytes",
         body="return math.ceil(weight.numel() / 8) + 4 * int((weight != 0).sum()) + 4"),
]
