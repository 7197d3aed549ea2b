import type { ServerSpec } from './fleet-layout.ts';

/**
 * Whether each server's model fits the GPUs it is given, from the parameter count in the model's name.
 * bf16 weights take 2 bytes per parameter; SGLang gives weights and KV cache `memFractionStatic` of each
 * GPU's memory. A model whose weights leave most of that free on one GPU serves far more samples per hour
 * as data-parallel replicas (`--dp-size`, the dp8 layout) than with tensor parallelism.
 */
const BYTES_PER_PARAMETER = 2;
/** Below this share of the static budget, a replica still has most of its memory for KV cache. */
const ROOMY_SHARE = 0.5;

/** Billions of parameters named in a model reference ("Qwen2.5-72B-Instruct" → 72, "Mixtral-8x7B" → 56). */
export function parameterBillions(model: string): number | undefined {
  const moe = /(?:^|[-_/ ])(\d+)x(\d+(?:\.\d+)?)[bB](?=$|[-_/ .])/u.exec(model);
  if (moe) return Number(moe[1]) * Number(moe[2]);
  const dense = /(?:^|[-_/ ])(\d+(?:\.\d+)?)[bB](?=$|[-_/ .])/u.exec(model);
  return dense ? Number(dense[1]) : undefined;
}

export interface FitAdvice {
  /** Layouts that cannot load: synth fails with these. */
  readonly problems: string[];
  /** Layouts that work but waste GPUs: printed at synth. */
  readonly notes: string[];
}

export function modelFitAdvice(servers: readonly ServerSpec[], gpuMemoryGiB: number, memFractionStatic: number): FitAdvice {
  const problems: string[] = [];
  const notes: string[] = [];
  const budgetGiB = gpuMemoryGiB * memFractionStatic;
  servers.forEach((server, index) => {
    const billions = parameterBillions(server.model);
    if (billions === undefined) return;
    const weightsGiB = (billions * 1e9 * BYTES_PER_PARAMETER) / 2 ** 30;
    const perGpuGiB = weightsGiB / server.tp;
    const label = `servers[${index}] ${server.name} (${server.model}, ~${Math.round(weightsGiB)} GiB of bf16 weights)`;
    if (perGpuGiB > budgetGiB) {
      const tpNeeded = Math.ceil(weightsGiB / budgetGiB);
      problems.push(
        `${label} does not fit with tp ${server.tp}: ${Math.round(perGpuGiB)} GiB per GPU is more than ${Math.round(budgetGiB)} GiB ` +
          `(${gpuMemoryGiB} GiB x memFractionStatic ${memFractionStatic}): give each replica at least ${tpNeeded} GPUs (tp ${tpNeeded}), ` +
          `for example layout tp8 or tp4x2`,
      );
    } else if (server.tp > 1 && weightsGiB <= budgetGiB * ROOMY_SHARE) {
      notes.push(
        `${label} fits on one GPU with room for KV cache: ${server.gpus.length} replicas with tp 1 (layout dp8, or dp ${server.gpus.length}) ` +
          `serve far more samples per hour than tp ${server.tp}.`,
      );
    }
  });
  return { problems, notes };
}
