// What an augmentation did, as the run's result, its report and `hone train --json` show it.

export interface AugmentCounts {
  /** Prompts sent to the writer (one example asked for each). */
  asked: number;
  /** Nothing usable came back (empty, or longer than any example could be). */
  unusable: number;
  /** Too close to a validation or test text (the leakage guard). */
  leakage: number;
  /** The same as, or too close to, a training example. */
  duplicate_of_train: number;
  /** The same as, or too close to, an earlier generated example. */
  duplicate_of_generated: number;
  /** The run trained without them assigned them confidently to another label. */
  other_label: number;
  /** The run trained without them did not rank their own label first with augment.min_confidence. */
  low_confidence: number;
  kept: number;
}

export interface AugmentSummary {
  /** The run kept: "augmented" (trained with the generated examples) or "original". */
  kept: "augmented" | "original";
  reason: string;
  metric: string;
  original: { run: string; validation: number | null; test: number | null };
  augmented: { run: string; validation: number | null; test: number | null } | null;
  counts: AugmentCounts;
  by_kind: Record<"paraphrase" | "new", { asked: number; kept: number }>;
  generation: { model: string; seconds: number; examples_per_second: number };
  /** The screen's thresholds (augment.near_duplicate, reject_confidence, min_confidence). */
  filters: { near_duplicate: number; reject_confidence: number; min_confidence: number };
  /** Files in the original run's augment/ folder. */
  files: { generated: string; kept: string; provenance: string };
}
