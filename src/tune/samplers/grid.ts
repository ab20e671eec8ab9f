// Grid search: every combination once, in a seeded order, so that a study stopped early
// has still seen a spread of the grid.
import { HoneError } from "../../util/errors.js";
import { Rng } from "../rng.js";
import { gridOf, type Assignment } from "../space.js";
import type { SampleRequest, Sampler } from "./types.js";

export function gridSize(req: Pick<SampleRequest, "space" | "gridPoints">): number {
  return gridOf(req.space, req.gridPoints).length;
}

export const gridSampler: Sampler = {
  sample(req: SampleRequest): Assignment {
    const grid = new Rng(req.seed, 0x9e1d).shuffle(gridOf(req.space, req.gridPoints));
    // Trials numbers can be skipped (failures retried under new numbers): take the first
    // grid point no trial has used yet.
    const used = new Set(req.history.filter((t) => t.number !== req.number).map((t) => JSON.stringify(t.params)));
    const next = grid.find((a) => !used.has(JSON.stringify(a)));
    if (!next)
      throw new HoneError("usage", `the grid has ${grid.length} points and every one has been tried`, [
        { message: "the study is complete", hint: "add values or raise tune.grid_points" },
      ]);
    return next;
  },
};
