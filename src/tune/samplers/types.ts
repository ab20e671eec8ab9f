// What every sampler sees: the space, the objectives and the study's history so far.
import type { Assignment, Objective, Space, Value } from "../space.js";

export type TrialState = "waiting" | "running" | "complete" | "pruned" | "failed";

export interface TrialView {
  number: number;
  state: TrialState;
  params: Assignment;
  /** Objective values as measured (in each objective's own direction); null until complete. */
  values: number[] | null;
  /** Intermediate values of the first objective, by resource (epochs). */
  intermediate: { resource: number; value: number }[];
}

export interface SampleRequest {
  space: Space;
  objectives: Objective[];
  history: TrialView[];
  /** Number of the trial being sampled: with the seed it fixes the random stream. */
  number: number;
  seed: number;
  startupTrials: number;
  gridPoints: number;
}

export interface Sampler {
  /** Values for the new trial's active parameters. */
  sample(req: SampleRequest): Assignment;
}

/** An objective value turned into a loss (lower is better). */
export function lossOf(values: number[], objectives: Objective[], i = 0): number {
  return objectives[i]!.direction === "maximize" ? -values[i]! : values[i]!;
}

export type { Assignment, Value };
