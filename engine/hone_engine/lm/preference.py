"""The preference losses of objective dpo, one function each, on the summed log-probabilities (and
learnt-token counts) of the answers. Training calls them per micro-batch and sums; evaluation calls
them once on the whole split and averages. src/generative/preference.ts computes the same numbers
in TypeScript for the run's metrics; engine/tests/test_lm.py checks both against a hand computation.

Pairs (dpo, orpo, simpo): sequences 2i (chosen) and 2i+1 (rejected).
  dpo    -log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r)))                      (Rafailov et al. 2023)
  simpo  -log sigmoid(beta * (pi_c / n_c - pi_r / n_r) - gamma_beta_ratio * beta)    (Meng et al. 2024)
  orpo   -pi_c / n_c - beta * log sigmoid(log odds_c - log odds_r),                  (Hong et al. 2024)
         odds = p / (1 - p) of the per-token mean probability p = exp(pi / n); the first term is the
         chosen answer's own per-token loss (the paper's L_SFT), averaged per pair.
Unpaired (kto): sequences 2i (the answer, desirable or not) and 2i+1 (the same prompt with another
example's answer). z = max(0, mean(pi - ref) of the second sequences), without gradient: the
reference point, estimated on the same micro-batch as TRL does;
  desirable    desirable_weight * (1 - sigmoid(beta * ((pi - ref) - z)))          (Ethayarajh et al. 2024)
  undesirable  undesirable_weight * (1 - sigmoid(beta * (z - (pi - ref))))
"""

import torch
import torch.nn.functional as F

REFERENCE_FREE = ("orpo", "simpo")


def needs_reference(cfg: dict) -> bool:
    return cfg["loss"] not in REFERENCE_FREE


def _log_odds(mean_logp: torch.Tensor) -> torch.Tensor:
    # log(p / (1 - p)) with log p = mean_logp <= 0; -expm1 keeps 1 - p exact when p is small.
    return mean_logp - torch.log(-torch.expm1(mean_logp.clamp(max=-1e-7)))


def losses(cfg: dict, pi: torch.Tensor, n: torch.Tensor, ref: torch.Tensor | None, labels: torch.Tensor | None) -> torch.Tensor:
    """One loss per pair (dpo, orpo, simpo) or per example (kto), in fp32. pi, n, ref: per sequence,
    in shard order (2i, 2i+1); labels: kto's desirable flags, one per example."""
    beta, loss = cfg["beta"], cfg["loss"]
    pi = pi.float()
    n = n.float().clamp(min=1)
    if loss == "dpo":
        margin = (pi[0::2] - ref[0::2]) - (pi[1::2] - ref[1::2])
        return -F.logsigmoid(beta * margin)
    if loss == "simpo":
        margin = pi[0::2] / n[0::2] - pi[1::2] / n[1::2]
        return -F.logsigmoid(beta * margin - cfg["gamma_beta_ratio"] * beta)
    if loss == "orpo":
        mean = pi / n
        return -mean[0::2] - beta * F.logsigmoid(_log_odds(mean[0::2]) - _log_odds(mean[1::2]))
    if loss == "kto":
        ratio = pi[0::2] - ref[0::2]
        z = (pi[1::2] - ref[1::2]).detach().mean().clamp(min=0)
        good = labels.bool()
        return torch.where(
            good,
            cfg["desirable_weight"] * (1 - torch.sigmoid(beta * (ratio - z))),
            cfg["undesirable_weight"] * (1 - torch.sigmoid(beta * (z - ratio))),
        )
    raise ValueError(f"unknown preference loss {loss}")
