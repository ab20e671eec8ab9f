// task: dpo — direct preference optimisation of a language model against its starting point.
import { causalOnly, lmTask, PAIRWISE_SELECTION, preferencePairsOnly } from "../../generative/pipeline.js";
import { dpoMetrics } from "../../generative/metrics.js";

export default lmTask(
  {
    name: "dpo",
    head: "lm",
    pairwise: true,
    generates: true,
    packs: false,
    check: (_c, info) => causalOnly("dpo", info),
    checkFormat: preferencePairsOnly("dpo"),
    selection: PAIRWISE_SELECTION,
    // Preference tuning starts from a good model: small steps.
    defaultLr: (_hidden, adapter) => (adapter ? 5e-5 : 5e-7),
    curve: "reward_accuracy",
    evalColumns: ["policy_logp", "reference_logp"],
    evalMetrics: (col, cfg) => dpoMetrics(col("policy_logp"), col("reference_logp"), cfg.lm!.dpo.beta),
    async scoreMetrics(score, cfg) {
      const policy = await score(false);
      const reference = await score(true);
      return dpoMetrics(policy("logp"), reference("logp"), cfg.lm!.dpo.beta);
    },
  },
  "preference tuning (DPO) of a causal LM on chosen / rejected pairs, against the model it starts from",
);
