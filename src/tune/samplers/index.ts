// Samplers by name. Adding one: a file exporting a Sampler, and a line here.
import { gpSampler } from "./gp.js";
import { gridSampler } from "./grid.js";
import { randomSampler, sobolSampler } from "./random.js";
import { tpeSampler } from "./tpe.js";
import type { Sampler } from "./types.js";

export const SAMPLERS = { tpe: tpeSampler, gp: gpSampler, random: randomSampler, sobol: sobolSampler, grid: gridSampler } satisfies Record<string, Sampler>;
export type SamplerName = keyof typeof SAMPLERS;
export type { Sampler, SampleRequest, TrialView, TrialState } from "./types.js";
