"""The loss of classification heads on one encoder (a plain classifier, a hierarchy's heads,
extra tasks' heads), and the hierarchy's coupling penalty."""

import torch
import torch.nn.functional as F


def head_losses(logits: dict, labels: dict, heads: list, couplings: list) -> torch.Tensor:
    """Summed (not averaged) loss over the batch, so gradient accumulation can divide by the
    exact number of examples in the optimizer step. A target of -1 means "not this head's
    example" (a hierarchy node off the example's path)."""
    total = 0.0
    for head in heads:
        out, y = logits[head["name"]].float(), labels[head["name"]]
        if head["multi_label"]:
            loss = F.binary_cross_entropy_with_logits(out, y, reduction="none").mean(-1).sum()
        else:
            loss = F.cross_entropy(out, y, reduction="sum", ignore_index=-1, label_smoothing=head["label_smoothing"])
        total = total + head["loss_weight"] * loss
    for c in couplings:
        # The probability mass a parent level gives a node should equal what the child level
        # gives that node's children; both are summed into shared groups and compared.
        parent = logits[c["parent"]].float().softmax(-1)
        child = logits[c["child"]].float().softmax(-1)
        groups = max(c["parent_groups"] + c["child_groups"]) + 1
        pg = torch.tensor(c["parent_groups"], device=parent.device)
        cg = torch.tensor(c["child_groups"], device=child.device)
        mass_p = parent.new_zeros(parent.shape[0], groups).index_add_(1, pg, parent)
        mass_c = child.new_zeros(child.shape[0], groups).index_add_(1, cg, child)
        total = total + c["weight"] * (mass_p - mass_c).pow(2).sum()
    return total
