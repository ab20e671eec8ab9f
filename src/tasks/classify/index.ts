// task: classify — one label (or a set of labels) per text, from heads on an encoder.
import { trainsInOneProcess } from "../../config/resolve.js";
import { classifierConfig, classifierTask } from "../../classifier/pipeline.js";

export default classifierTask("classify", "a classifier on an encoder: one label, or a set (multi-label), per text; extra label columns as more heads", {
  ...classifierConfig,
  check(c) {
    trainsInOneProcess(c);
  },
});
