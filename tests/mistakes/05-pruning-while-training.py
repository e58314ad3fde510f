"""Realistic wrong answers for 05-pruning-while-training; each must lose exactly its exercise's points."""

# Ex 3 answers below validate their input correctly; only the amounts are wrong.
CHECK = ("if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1 "
         "or not 0 <= target < 1:\n    raise ValueError('bad target or num_steps')\n")

MISTAKES = [
    # Ex 1: reads the parameters: a pruned weight counts as weight_orig (no zeros while masks are attached).
    dict(name="ignores-masks", cell="ex1-sparsity-by-kind",
         body="result = {}\n"
              "for kind in ('weight', 'bias'):\n"
              "    tensors = [p for n, p in model.named_parameters() if n.split('.')[-1].startswith(kind)]\n"
              "    total = sum(t.numel() for t in tensors)\n"
              "    result[kind] = sum(int((t == 0).sum()) for t in tensors) / total if total else 0.0\n"
              "return result"),
    # Ex 1: the average of per-layer sparsities instead of pooling the zeros over all layers.
    dict(name="mean-of-layers", cell="ex1-sparsity-by-kind",
         body="result = {}\n"
              "for kind in ('weight', 'bias'):\n"
              "    values = [pruning.sparsity(pruning.effective_weight(m, kind)) for m in model.modules()\n"
              "              if isinstance(m, (nn.Linear, nn.Conv2d))\n"
              "              and getattr(m, kind, None) is not None]\n"
              "    result[kind] = sum(values) / len(values) if values else 0.0\n"
              "return result"),
    # Ex 1: every module with a weight or bias, BatchNorm included.
    dict(name="counts-batchnorm", cell="ex1-sparsity-by-kind",
         body="result = {}\n"
              "for kind in ('weight', 'bias'):\n"
              "    tensors = [pruning.effective_weight(m, kind) for m in model.modules()\n"
              "               if not list(m.children()) and getattr(m, kind, None) is not None]\n"
              "    total = sum(t.numel() for t in tensors)\n"
              "    result[kind] = sum(int((t == 0).sum()) for t in tensors) / total if total else 0.0\n"
              "return result"),
    # Ex 2: the defaults kept: biases pruned too, lottery-ticket rewinding on.
    dict(name="defaults-kept", cell="ex2-configured-pruning",
         body='return ModelPruning("l1_unstructured", amount=amount)'),
    # Ex 2: weights by name, in every module: BatchNorm's weights are pruned as well.
    dict(name="parameter-names-weight", cell="ex2-configured-pruning",
         body='return ModelPruning("l1_unstructured", parameter_names=["weight"], amount=amount,\n'
              "                    use_lottery_ticket_hypothesis=False)"),
    # Ex 2: layer by layer instead of globally.
    dict(name="layerwise", cell="ex2-configured-pruning",
         body='return ModelPruning("l1_unstructured",\n'
              "                    parameters_to_prune=pruning.parameters_to_prune(model),\n"
              "                    use_global_unstructured=False, amount=amount,\n"
              "                    use_lottery_ticket_hypothesis=False)"),
    # Ex 2: masks left after fit.
    dict(name="not-permanent", cell="ex2-configured-pruning",
         body='return ModelPruning("l1_unstructured",\n'
              "                    parameters_to_prune=pruning.parameters_to_prune(model),\n"
              "                    amount=amount, use_lottery_ticket_hypothesis=False,\n"
              "                    make_pruning_permanent=False)"),
    # Ex 2: everything right but the criterion: random pruning instead of L1 (the smallest magnitudes).
    dict(name="random-criterion", cell="ex2-configured-pruning",
         body='return ModelPruning("random_unstructured",\n'
              "                    parameters_to_prune=pruning.parameters_to_prune(model),\n"
              "                    amount=amount, use_lottery_ticket_hypothesis=False)"),
    # Ex 3: right amounts, the cubic formula written out, but `isinstance(num_steps, int)` lets True (an
    # int in Python) through; pruning.cubic_sparsity would refuse it, the formula does not.
    dict(name="accepts-bool-steps", cell="ex3-gradual-amounts",
         body="if not isinstance(num_steps, int) or num_steps < 1 or not 0 <= target < 1:\n"
              "    raise ValueError('bad target or num_steps')\n"
              "path = [target * (1 - (1 - k / num_steps) ** 3) for k in range(num_steps + 1)]\n"
              "return [(after - before) / (1 - before) for before, after in zip(path, path[1:])]"),
    # Ex 3: the increments of the schedule, as if amounts added up instead of compounding.
    dict(name="increments-not-compounded", cell="ex3-gradual-amounts",
         body=CHECK + "path = [pruning.cubic_sparsity(k, num_steps, target) for k in range(num_steps + 1)]\n"
              "return [after - before for before, after in zip(path, path[1:])]"),
    # Ex 3: a linear schedule (equal steps of sparsity) instead of the cubic one.
    dict(name="linear-schedule", cell="ex3-gradual-amounts",
         body=CHECK + "path = [target * k / num_steps for k in range(num_steps + 1)]\n"
              "return [(after - before) / (1 - before) for before, after in zip(path, path[1:])]"),
    # Ex 3: the sparsities of the schedule returned instead of the amounts.
    dict(name="returns-sparsities", cell="ex3-gradual-amounts",
         body=CHECK + "return [pruning.cubic_sparsity(k, num_steps, target)\n"
                      "        for k in range(1, num_steps + 1)]"),
    # Ex 4: the ModelPruning way: assigning .data shares storage with the saved state.
    dict(name="shares-storage", cell="ex4-rewind",
         body="params = dict(model.named_parameters())\n"
              "for name, value in state.items():\n"
              "    params.get(name + '_orig', params.get(name)).data = value\n"
              "return model"),
    # Ex 4: load_state_dict(strict=False) silently skips every pruned weight (its key is x_orig now).
    dict(name="load-state-dict-non-strict", cell="ex4-rewind",
         body="model.load_state_dict(state, strict=False)\nreturn model"),
    # Ex 4: only the pruned tensors are rewound, the other parameters keep their trained values.
    dict(name="only-pruned", cell="ex4-rewind",
         body="params = dict(model.named_parameters())\n"
              "with torch.no_grad():\n"
              "    for name, value in state.items():\n"
              "        if name + '_orig' in params:\n"
              "            params[name + '_orig'].copy_(value)\n"
              "return model"),
]
