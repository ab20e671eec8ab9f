"""The loss of classification heads on one encoder (a plain classifier, a hierarchy's heads,
extra tasks' heads), and the hierarchy's coupling penalty."""

import torch
import torch.nn.functional as F


def head_losses(logits: dict, labels: dict, heads: list, couplings: list, examples: int = 1, tokens: int = 1) -> torch.Tensor:
    """The batch's share of one optimizer step's loss: summed over the batch, then divided by the
    exact number of examples (sequence heads) or labelled tokens (token heads) in the whole step,
    so that gradient accumulation equals one big batch. A target of -1 means "not this head's
    example" (a hierarchy node off the example's path, a word piece after a word's first).

    Token heads are a mean over tokens: the usual joint intent + slot loss (intent CE + mean slot
    CE), whatever the sentences' lengths."""
    total = 0.0
    token_total = 0.0
    for head in heads:
        out, y = logits[head["name"]].float(), labels[head["name"]]
        if head["level"] == "span":
            # Answer start and end: a softmax over the positions each (the usual QA loss, the mean
            # of the two cross-entropies), summed over the batch like a sequence head.
            loss = (F.cross_entropy(out[..., 0], y[:, 0], reduction="sum") + F.cross_entropy(out[..., 1], y[:, 1], reduction="sum")) / 2
            total = total + head["loss_weight"] * loss
            continue
        if head["level"] == "token":
            loss = F.cross_entropy(out.flatten(0, 1), y.flatten(), reduction="sum", ignore_index=-1, label_smoothing=head["label_smoothing"])
            token_total = token_total + head["loss_weight"] * loss
            continue
        # train.class_weight: per-class (or per-label positive / negative) weights, decided in
        # TypeScript from the training targets; absent or null: every target weighs 1.
        if head["multi_label"]:
            w = head.get("label_weights")
            weight = None
            if w:
                positive, negative = out.new_tensor(w["positive"]), out.new_tensor(w["negative"])
                weight = y * positive + (1 - y) * negative
            loss = F.binary_cross_entropy_with_logits(out, y, weight=weight, reduction="none").mean(-1).sum()
        else:
            w = head.get("class_weights")
            weight = out.new_tensor(w) if w else None
            loss = F.cross_entropy(out, y, weight=weight, reduction="sum", ignore_index=-1, label_smoothing=head["label_smoothing"])
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
    # Sequence heads alone: exactly the division of the sum (the fixed-seed loss tests hold).
    return total / examples if isinstance(token_total, float) else total / examples + token_total / max(1, tokens)
