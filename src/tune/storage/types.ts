// Where a study lives: its definition, its trials and their intermediate values. Two
// implementations with one contract: SQLite in the run store (one orchestrator, the only
// writer) and PostgreSQL (workers on several hosts, claims serialised by an advisory lock).
import type { Assignment, Objective, Space } from "../space.js";
import type { TrialState, TrialView } from "../samplers/types.js";

/** What makes two invocations the same study: resumed only if these match. */
export interface StudyDefinition {
  config_file: string | null;
  sets: string[];
  space: Space;
  objectives: Objective[];
  sampler: string;
  seed: number;
}

export interface StudyRow {
  id: string;
  name: string;
  definition: StudyDefinition;
  createdAt: string;
}

export interface TrialRow extends TrialView {
  id: number;
  runId: string | null;
  worker: string | null;
  attempts: number;
  error: string | null;
  seconds: number | null;
  epochs: number | null;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface ClaimOptions {
  /** No new trial is created once the study holds this many. */
  maxTrials: number;
  /** Running trials whose worker has not sent a heartbeat for this long are requeued. */
  staleMs: number;
  /** Requeue every running trial first (a single orchestrator restarting after a crash). */
  requeueAllRunning?: boolean;
  /** Parameters of a new trial, given the history, under the study's lock. */
  propose: (history: TrialRow[], number: number) => Assignment;
}

export interface FinishResult {
  state: Extract<TrialState, "complete" | "pruned" | "failed">;
  values: number[] | null;
  error: string | null;
  seconds: number | null;
  epochs: number | null;
}

export interface StudyStorage {
  readonly kind: "sqlite" | "postgres";
  readonly where: string;
  /** Open a study by name; create it when `create` and it does not exist. */
  openStudy(name: string, definition: StudyDefinition | null): Promise<StudyRow>;
  listStudies(): Promise<StudyRow[]>;
  trials(studyId: string): Promise<TrialRow[]>;
  /** Take the next trial (a requeued one first, else a new one), or null when the budget is spent. */
  claim(studyId: string, worker: string, opts: ClaimOptions): Promise<TrialRow | null>;
  heartbeat(trialIds: number[], worker: string): Promise<void>;
  setRun(trialId: number, worker: string, runId: string): Promise<void>;
  report(trialId: number, resource: number, value: number): Promise<void>;
  /** Record a result; false when the trial is no longer this worker's (it was requeued). */
  finish(trialId: number, worker: string, result: FinishResult): Promise<boolean>;
  /** Put a trial back in the queue (interrupted, or failed with retries left). */
  release(trialId: number, worker: string, opts: { error: string | null; countAttempt: boolean }): Promise<void>;
  /** Every claim and requeue, in order: who ran which trial when. */
  assignments(studyId: string): Promise<{ number: number; worker: string; at: number; event: string }[]>;
  close(): Promise<void>;
}

/** Definitions are compared on what changes the meaning of the trials. */
export function sameDefinition(a: StudyDefinition, b: StudyDefinition): boolean {
  const key = (d: StudyDefinition) => JSON.stringify([d.space, d.objectives, d.sampler, d.seed]);
  return key(a) === key(b);
}
