// task: classify — one label (or a set of labels) per text, from heads on an encoder.
import { classifierConfig, classifierTask } from "../../classifier/pipeline.js";
import { HoneError } from "../../util/errors.js";

export default classifierTask("classify", "a classifier on an encoder: one label, or a set (multi-label), per text; extra label columns as more heads", {
  ...classifierConfig,
  check(c) {
    if (c.train.fsdp)
      throw new HoneError("config", "FSDP shards causal language models for sft and dpo", [
        { path: ["train", "fsdp"], message: `task ${c.task} trains in one process`, hint: "remove train.fsdp" },
      ]);
  },
});
