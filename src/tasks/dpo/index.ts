// task: dpo — preference tuning of a language model: DPO against its starting point, or the
// reference-free ORPO and SimPO, or KTO from good / bad answers (dpo.loss).
import { HoneError } from "../../util/errors.js";
import { causalOnly, lmTask, PAIRWISE_SELECTION, preferencePairsOnly } from "../../generative/pipeline.js";
import { ktoExamples, ktoLabels, needsReference, preferenceMetrics } from "../../generative/preference.js";

export default lmTask(
  {
    name: "dpo",
    head: "lm",
    pairwise: true,
    generates: true,
    packs: false,
    check: (_c, info) => causalOnly("dpo", info),
    checkFormat(format, origin, cfg) {
      if (cfg.lm!.dpo.loss !== "kto") return preferencePairsOnly(`dpo.loss ${cfg.lm!.dpo.loss}`)(format, origin);
      if (format === "preference" || format === "unpaired") return;
      throw new HoneError("data", "dpo.loss kto needs good and bad answers", [
        {
          file: origin,
          message: `the data holds ${format} rows`,
          hint: 'rows like {"prompt": ..., "completion": ..., "label": true|false}, or preference pairs',
        },
      ]);
    },
    prepare: (examples, cfg) => (cfg.lm!.dpo.loss === "kto" ? ktoExamples(examples) : examples),
    labels: (examples, cfg) => (cfg.lm!.dpo.loss === "kto" ? ktoLabels(examples) : null),
    selection: PAIRWISE_SELECTION,
    // Preference tuning starts from a good model: small steps.
    defaultLr: (_hidden, adapter) => (adapter ? 5e-5 : 5e-7),
    curve: "reward_accuracy",
    evalColumns: ["policy_logp", "reference_logp", "tokens"],
    evalMetrics: (col, cfg, data) => preferenceMetrics(cfg.lm!.dpo, col("policy_logp"), col("reference_logp"), col("tokens"), data),
    async scoreMetrics(score, cfg, data) {
      const policy = await score(false);
      const p = cfg.lm!.dpo;
      const reference = needsReference(p) ? (await score(true))("logp") : policy("logp").map(() => 0);
      return preferenceMetrics(p, policy("logp"), reference, policy("tokens"), data);
    },
  },
  "preference tuning of a causal LM: DPO on chosen / rejected pairs against the model it starts from, or ORPO, SimPO (no reference model) or KTO (good / bad answers, paired or not)",
);
