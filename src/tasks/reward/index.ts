// task: reward — a pairwise (Bradley-Terry) reward model on a causal LM's backbone.
import { HoneError } from "../../util/errors.js";
import { causalOnly, lmTask, PAIRWISE_SELECTION, preferencePairsOnly } from "../../generative/pipeline.js";
import { rewardMetrics } from "../../generative/preference.js";

export default lmTask(
  {
    name: "reward",
    head: "reward",
    pairwise: true,
    generates: false,
    packs: false,
    check(c, info) {
      causalOnly("reward", info);
      if (c.train.fsdp)
        throw new HoneError("config", "FSDP shards causal language models for sft and dpo", [
          {
            path: ["train", "fsdp"],
            message: "a reward model is trained replicated",
            hint: "remove train.fsdp: each process then holds the whole model (data parallel)",
          },
        ]);
    },
    checkFormat: preferencePairsOnly("reward"),
    selection: PAIRWISE_SELECTION,
    defaultLr: (hidden) => (hidden <= 384 ? 1e-4 : hidden <= 768 ? 5e-5 : 2e-5),
    curve: "reward_accuracy",
    evalColumns: ["reward"],
    evalMetrics: (col) => rewardMetrics(col("reward")),
    async scoreMetrics(score) {
      return rewardMetrics((await score(false))("reward"));
    },
  },
  "a pairwise reward model: a score layer on a causal LM's last token, trained so chosen answers outscore rejected ones",
);
