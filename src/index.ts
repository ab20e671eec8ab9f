// The Hone SDK: everything the CLI does, as typed functions.
export { train, type TrainOptions, type TrainResult, type TrainUpdate } from "./train/train.js";
export { predict, evaluate, decode, decodeAll, type Prediction, type LabelPrediction } from "./predict/predict.js";
export type { RunMetrics, Decoding } from "./train/evaluate.js";
export { Tree } from "./hierarchy/tree.js";
export { readTaxonomy, labelPath } from "./hierarchy/taxonomy.js";
export { layout, terminalProbabilities, STRATEGIES, type Strategy } from "./hierarchy/strategies.js";
export { decodePath, marginals, tuneThresholds, type PathDecision } from "./hierarchy/decode.js";
export { hierarchyMetrics, type HierarchyMetrics } from "./hierarchy/metrics.js";
export { exportOnnx, TOLERANCE, type ExportOptions, type ExportResult, type Quantize } from "./deploy/export.js";
export { load, type LoadedModel, type LoadOptions } from "./deploy/runtime.js";
export { inspectData, type InspectReport } from "./data/inspect.js";
export { loadConfig } from "./config/load.js";
export { resolveConfig, planTraining, type ResolvedConfig, type TrainingPlan } from "./config/resolve.js";
export { UserConfig, type UserConfigInput, configJsonSchema } from "./config/schema.js";
export { RunStore, storeDir, type RunRecord } from "./store/store.js";
export { listModels, installModel, CATALOG, DEFAULT_MODEL } from "./models/catalog.js";
export { singleLabelMetrics, multiLabelMetrics, type Metrics } from "./metrics/classification.js";
export { HoneError, formatError } from "./util/errors.js";
