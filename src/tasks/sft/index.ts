// task: sft — supervised fine-tuning of a language model on chat, prompt/completion or text.
import { HoneError } from "../../util/errors.js";
import { lmTask } from "../../generative/pipeline.js";
import { sftMetrics } from "../../generative/metrics.js";

export default lmTask(
  {
    name: "sft",
    head: "lm",
    pairwise: false,
    generates: true,
    packs: true,
    check(c, info) {
      if (c.train.fsdp && !info.causalLm)
        throw new HoneError("config", "FSDP shards causal language models for sft and dpo", [
          {
            path: ["train", "fsdp"],
            message: "an encoder-decoder is trained replicated",
            hint: "remove train.fsdp: each process then holds the whole model (data parallel)",
          },
        ]);
    },
    checkFormat(format, origin) {
      if (format === "preference" || format === "unpaired")
        throw new HoneError("data", "sft learns from answers, not preferences", [
          {
            file: origin,
            message: `the data holds ${format} rows`,
            hint: format === "preference" ? "use task: dpo for preference data" : "use task: dpo with dpo.loss: kto for good / bad answers",
          },
        ]);
    },
    selection: { allowed: ["loss"], auto: () => "loss" },
    // Adapters learn at about 10x a full fine-tune's rate.
    defaultLr: (hidden, adapter) => (adapter ? 2e-4 : hidden <= 768 ? 5e-5 : 1e-5),
    curve: "perplexity",
    evalColumns: ["nll", "tokens"],
    evalMetrics: (col) => sftMetrics(col("nll"), col("tokens")),
    async scoreMetrics(score) {
      const policy = await score(false);
      return sftMetrics(
        policy("logp").map((v) => -v),
        policy("tokens"),
      );
    },
  },
  "supervised fine-tuning of a causal LM (or an encoder-decoder) on chat, prompt/completion or plain text; only answer tokens are learnt",
);
