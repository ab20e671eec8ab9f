// Independent uniform sampling (log-uniform on log ranges), and the Sobol variant that fills
// the space more evenly with the same number of trials.
import { Rng } from "../rng.js";
import { fromUnit, isActive, type Assignment, type Space } from "../space.js";
import { sobolPoint } from "./sobol.js";
import type { SampleRequest, Sampler } from "./types.js";

/** Map a point of the unit cube (one coordinate per parameter) to an assignment. */
export function assignmentOf(space: Space, u: number[]): Assignment {
  const out: Assignment = {};
  space.params.forEach((p, i) => {
    if (!isActive(p, out)) return;
    const d = p.dist;
    out[p.name] = d.kind === "categorical" ? d.choices[Math.min(d.choices.length - 1, Math.floor(u[i]! * d.choices.length))]! : fromUnit(d, u[i]!);
  });
  return out;
}

export const randomSampler: Sampler = {
  sample(req: SampleRequest) {
    const rng = new Rng(req.seed, req.number);
    return assignmentOf(
      req.space,
      req.space.params.map(() => rng.uniform()),
    );
  },
};

export const sobolSampler: Sampler = {
  sample(req: SampleRequest) {
    return assignmentOf(req.space, sobolPoint(req.number, req.space.params.length, req.seed));
  },
};
