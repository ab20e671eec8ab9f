// task: hierarchical — one path of labels per text ("payment/refund/late"), decoded consistently.
import { classifierConfig, classifierTask } from "../../classifier/pipeline.js";
import { resolveHierarchy } from "../../config/resolve.js";
import { HoneError } from "../../util/errors.js";

export default classifierTask("hierarchical", "a hierarchy of labels on an encoder: flat, per-level or local heads, one consistent path per text", {
  ...classifierConfig,
  check(c) {
    if (c.data.multi_label)
      throw new HoneError("config", "invalid config", [
        { path: ["data", "multi_label"], message: "a hierarchical task has one path per example: set multi_label: false" },
      ]);
    if (c.train.fsdp)
      throw new HoneError("config", "FSDP shards causal language models for sft and dpo", [
        { path: ["train", "fsdp"], message: `task ${c.task} trains in one process`, hint: "remove train.fsdp" },
      ]);
  },
  section: (c, { baseDir }) => ({ hierarchy: resolveHierarchy(c, baseDir) }),
});
