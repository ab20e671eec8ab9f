// What a classifier predicts for one text (the SDK, `hone predict`, the server and the ONNX runtime).
export interface LabelPrediction {
  /** The predicted label (single-label) or the first of those over the threshold (multi-label). */
  label: string | null;
  labels: string[];
  score: number;
  top: { label: string; score: number }[];
}

export interface Prediction extends LabelPrediction {
  /** Hierarchies: the decided path, top level first (shorter than the full path when partial). */
  path?: string[];
  /** Hierarchies: each decided level's node and P(the true path passes through it). */
  levels?: { depth: number; label: string; score: number }[];
  /** Hierarchies: the model was unsure below the last decided level and stopped there. */
  partial?: boolean;
  /** Hierarchies: the most probable complete path, even when the decision stopped above it. */
  full_path?: string;
  /** Extra tasks (multi-task heads), by task name. */
  tasks?: Record<string, LabelPrediction>;
}
