// `hone data inspect` for generative tasks: splits, format, token lengths, the share of tokens
// that are learnt, what packing saves, and a preview of how the template renders an example
// (learnt tokens between ⟦ and ⟧).
import type { ResolvedConfig } from "../config/resolve.js";
import { lengthStats, type LengthStats } from "../data/inspect.js";
import { loadLmDataset, SPLITS } from "./dataset.js";
import type { LmExample, LmFormat } from "./data.js";
import { packSequences, paddingReport, type PaddingReport } from "./pack.js";

export interface LmInspectReport {
  task: string;
  format: LmFormat;
  template: string | null;
  splits: Record<string, { count: number; origin: string }>;
  /** Sequence lengths in tokens (after truncation), per split. */
  tokens: Record<string, LengthStats & { learnt_share: number }>;
  max_length: number;
  truncated: number;
  dropped: number;
  packing: PaddingReport | null;
  /** The first training example as the model sees it. */
  preview: string;
  warnings: string[];
}

export async function inspectLmData(
  cfg: ResolvedConfig,
  checkFormat: (format: LmFormat, origin: string) => void,
  prepare?: (examples: LmExample[]) => LmExample[],
): Promise<LmInspectReport> {
  const warnings: string[] = [];
  const ds = await loadLmDataset(cfg, checkFormat, (w) => warnings.push(w), undefined, prepare);
  const tokens: LmInspectReport["tokens"] = {};
  for (const split of SPLITS) {
    const seqs = ds.encoded[split].flat();
    if (seqs.length === 0) continue;
    const total = seqs.reduce((a, s) => a + s.ids.length, 0);
    const learnt = seqs.reduce((a, s) => a + s.mask.reduce((x, m) => x + m, 0), 0);
    // Lengths are after truncation, so the share over max_length is measured on the limit itself.
    tokens[split] = {
      ...lengthStats(
        seqs.map((s) => s.ids.length),
        cfg.data.max_length - 1,
      ),
      learnt_share: learnt / Math.max(1, total),
    };
  }
  const train = ds.encoded.train.flat();
  const lengths = train.map((s) => s.ids.length);
  const first = train[0]!;
  // Consecutive tokens with the same mask are decoded together, so the preview reads as text.
  let preview = "";
  let start = 0;
  for (let i = 1; i <= first.ids.length; i++) {
    if (i === first.ids.length || first.mask[i] !== first.mask[start]) {
      const text = await ds.encoder.decode(first.ids.subarray(start, i), false);
      preview += first.mask[start] === 1 ? `⟦${text}⟧` : text;
      start = i;
    }
  }
  return {
    // An encoder-decoder says so: its preview is source then target.
    task: cfg.lm!.architecture === "seq2seq" ? `${cfg.task} (encoder-decoder)` : cfg.task,
    format: ds.format,
    template: ds.encoder.template?.source.origin ?? null,
    splits: {
      train: { count: ds.examples.train.length, origin: "file" },
      validation: { count: ds.examples.validation.length, origin: ds.origin.validation },
      test: { count: ds.examples.test.length, origin: ds.origin.test },
    },
    tokens,
    max_length: cfg.data.max_length,
    truncated: ds.truncated,
    dropped: ds.dropped,
    packing: cfg.lm!.packing ? paddingReport(lengths, packSequences(lengths, cfg.data.max_length), cfg.train.batch_size, cfg.train.seed) : null,
    preview,
    warnings,
  };
}
