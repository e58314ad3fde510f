"""Realistic wrong answers for 07-pruning-criteria; each must lose exactly its exercise's points."""

LOOP = ("references = dict(reference.named_modules())\n"
        "for name, layer in model.named_modules():\n"
        "    if isinstance(layer, (nn.Linear, nn.Conv2d)):\n")

FLOORS = ("if not 0 < budget < 1:\n"
          "    raise ValueError(f'budget must be in (0, 1), got {budget!r}')\n"
          "total = sum(sizes[layer] for layer in scan)\n")

TAYLOR = ("layers = {name: m for name, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))}\n"
          "grads = {name: torch.zeros_like(m.weight) for name, m in layers.items()}\n")

SCALED = ("    if reached >= budget * total:\n"
          "        return {layer: t * budget * total / reached for layer, t in tolerated.items()}\n"
          "raise ValueError('no floor reaches the budget')")

WANDA = ("rows = weight.detach().flatten(1)\n"
         "if norms.dim() != 1 or len(norms) != rows.shape[1]:\n"
         "    raise ValueError('norms must have one entry per column')\n")

MISTAKES = [
    # Ex 1: magnitude, not random: the baseline becomes the method it is meant to test.
    dict(name="magnitude-not-random", cell="ex1-random-like",
         body=LOOP + "        zeros = int((pruning.effective_weight(references[name]) == 0).sum())\n"
                     "        prune.l1_unstructured(layer, 'weight', amount=zeros)\n"
                     "return model"),
    # Ex 1: one global random draw: the total matches, the per-layer sparsities do not.
    dict(name="global-random", cell="ex1-random-like",
         body="pairs = [(m, 'weight') for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]\n"
              "zeros = sum(int((pruning.effective_weight(m) == 0).sum()) for m in reference.modules()\n"
              "            if isinstance(m, (nn.Linear, nn.Conv2d)))\n"
              "prune.global_unstructured(pairs, prune.RandomUnstructured, amount=zeros)\n"
              "return model"),
    # Ex 2: counts layers, not weights: the budget is met in layers, not in weights.
    dict(name="ignores-sizes", cell="ex2-allocate-amounts",
         body=FLOORS + "for floor in sorted({a for c in scan.values() for a in c.values()}, reverse=True):\n"
                       "    tolerated = {layer: max((s for s, a in c.items() if a >= floor), default=0.0)\n"
                       "                 for layer, c in scan.items()}\n"
                       "    reached = sum(tolerated.values())\n"
                       "    if reached >= budget * len(scan):\n"
                       "        return {layer: t * budget * len(scan) / reached\n"
                       "                for layer, t in tolerated.items()}\n"
                       "raise ValueError('no floor reaches the budget')"),
    # Ex 2: strictly above the floor: the lowest floor is never reached.
    dict(name="strictly-above", cell="ex2-allocate-amounts",
         body=FLOORS + "for floor in sorted({a for c in scan.values() for a in c.values()}, reverse=True):\n"
                       "    tolerated = {layer: max((s for s, a in c.items() if a > floor), default=0.0)\n"
                       "                 for layer, c in scan.items()}\n"
                       "    reached = sum(sizes[layer] * t for layer, t in tolerated.items())\n" + SCALED),
    # Ex 3: backward adds into .grad: without zero_grad the gradients pile up over the batches.
    dict(name="forgets-zero-grad", cell="ex3-taylor-scores",
         body=TAYLOR + "model.zero_grad()\n"
                       "for x, y in batches:\n"
                       "    nn.functional.cross_entropy(model(x), y).backward()\n"
                       "    for name, m in layers.items():\n"
                       "        grads[name] += m.weight.grad\n"
                       "return {name: (m.weight * grads[name] / len(batches)).abs().detach()\n"
                       "        for name, m in layers.items()}"),
    # Ex 3: the gradient alone: how steep the loss is, not what removing the weight costs.
    dict(name="gradient-only", cell="ex3-taylor-scores",
         body=TAYLOR + "for x, y in batches:\n"
                       "    model.zero_grad()\n"
                       "    nn.functional.cross_entropy(model(x), y).backward()\n"
                       "    for name, m in layers.items():\n"
                       "        grads[name] += m.weight.grad\n"
                       "return {name: (grads[name] / len(batches)).abs() for name in layers}"),
    # Ex 4: one comparison over the whole tensor (global), not within each output row.
    dict(name="whole-tensor", cell="ex4-wanda-mask",
         body=WANDA + "scores = (rows.abs() * norms).flatten()\n"
                      "mask = torch.ones_like(scores)\n"
                      "num_pruned = round(amount * scores.numel())\n"
                      "if num_pruned:\n"
                      "    mask[scores.topk(num_pruned, largest=False).indices] = 0.0\n"
                      "return mask.view_as(weight)"),
    # Ex 4: compared within each column (dim=0), the inputs' view of the weight.
    dict(name="per-column", cell="ex4-wanda-mask",
         body=WANDA + "scores = rows.abs() * norms\n"
                      "mask = torch.ones_like(rows)\n"
                      "num_pruned = round(amount * rows.shape[0])\n"
                      "if num_pruned:\n"
                      "    mask.scatter_(0, scores.topk(num_pruned, dim=0, largest=False).indices, 0.0)\n"
                      "return mask.view_as(weight)"),
]
