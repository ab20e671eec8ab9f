// task: hierarchical — one path of labels per text ("payment/refund/late"), decoded consistently.
import { classifierConfig, classifierTask } from "../../classifier/pipeline.js";
import { trainsInOneProcess, resolveHierarchy } from "../../config/resolve.js";
import { HoneError } from "../../util/errors.js";

export default classifierTask("hierarchical", "a hierarchy of labels on an encoder: flat, per-level or local heads, one consistent path per text", {
  ...classifierConfig,
  check(c) {
    if (c.data.multi_label)
      throw new HoneError("config", "invalid config", [
        { path: ["data", "multi_label"], message: "a hierarchical task has one path per example: set multi_label: false" },
      ]);
    trainsInOneProcess(c);
  },
  section: (c, ctx) => ({ ...classifierConfig.section!(c, ctx), hierarchy: resolveHierarchy(c, ctx.baseDir) }),
});
