import type { RunEstimate } from './cost-estimate.ts';
import type { DatasetSplit } from './dataset-split.ts';
import type { EmptySlot, GenerationCounters } from './generation-run.ts';
import type { InputRejection } from './profile.ts';
import type { RejectRecord, Sample } from './sample.ts';

export interface ReportInput {
  readonly runId: string;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly input: { readonly file: string; readonly format: string; readonly usable: number; readonly rejected: readonly InputRejection[] };
  readonly plan: { readonly profiles: number; readonly slots: number; readonly sbk: number; readonly cm: number };
  readonly counters: GenerationCounters;
  readonly emptySlots: readonly EmptySlot[];
  readonly samples: readonly Sample[];
  readonly rejects: readonly RejectRecord[];
  readonly split: DatasetSplit;
  readonly estimate: RunEstimate;
  readonly stoppedReason?: string | undefined;
}

const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;

function countReasons(rejects: readonly RejectRecord[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const reject of rejects) counts[reject.reason] = (counts[reject.reason] ?? 0) + 1;
  return counts;
}

/** Tokens per backend and model over every response this run directory has seen (accepted or rejected). */
function usageByModel(samples: readonly Sample[], rejects: readonly RejectRecord[]) {
  const table: Record<string, { samples: number; rejects: number; input_tokens: number; output_tokens: number }> = {};
  const row = (key: string) => (table[key] ??= { samples: 0, rejects: 0, input_tokens: 0, output_tokens: 0 });
  for (const sample of samples) {
    const entry = row(`${sample.metadata.backend}:${sample.metadata.model}`);
    entry.samples++;
    entry.input_tokens += sample.metadata.usage.input_tokens;
    entry.output_tokens += sample.metadata.usage.output_tokens;
  }
  for (const reject of rejects) {
    if (reject.model === '') continue;
    const entry = row(`${reject.backend}:${reject.model}`);
    entry.rejects++;
    entry.input_tokens += reject.usage.input_tokens;
    entry.output_tokens += reject.usage.output_tokens;
  }
  return table;
}

/** report.json: counts, rejects by reason, requests, tokens, wall time, throughput, estimate vs actual. */
export function buildReport(input: ReportInput) {
  const { counters } = input;
  const wallSeconds = Math.max(0.001, (input.finishedAt.getTime() - input.startedAt.getTime()) / 1000);
  const complete = input.emptySlots.length === 0 && input.stoppedReason === undefined && input.samples.length >= input.plan.slots;
  return {
    run_id: input.runId,
    status: input.stoppedReason !== undefined ? 'stopped' : complete ? 'complete' : 'incomplete',
    ...(input.stoppedReason !== undefined ? { stopped_reason: input.stoppedReason } : {}),
    started_at: input.startedAt.toISOString(),
    finished_at: input.finishedAt.toISOString(),
    input: {
      file: input.input.file,
      format: input.input.format,
      profiles_usable: input.input.usable,
      profiles_rejected: input.input.rejected.length,
      rejected_profiles: input.input.rejected,
    },
    plan: input.plan,
    samples: {
      accepted: input.samples.length,
      accepted_this_invocation: counters.accepted,
      already_done_before: counters.alreadyDone,
      empty_slots: input.emptySlots.length,
      train: input.split.train.length,
      validation: input.split.validation.length,
      validation_profiles: input.split.validationProfiles.length,
    },
    empty_slots: input.emptySlots,
    rejects: {
      this_invocation: counters.rejected,
      this_invocation_by_reason: counters.rejectsByReason,
      total: input.rejects.length,
      total_by_reason: countReasons(input.rejects),
    },
    requests: {
      this_invocation: counters.requests,
      transport_failures: counters.transportFailures,
      per_accepted_sample: counters.accepted > 0 ? round(counters.requests / counters.accepted) : null,
    },
    tokens: {
      this_invocation: { input: counters.inputTokens, output: counters.outputTokens },
      by_model: usageByModel(input.samples, input.rejects),
    },
    wall_time_s: round(wallSeconds),
    throughput: {
      samples_per_s: round(counters.accepted / wallSeconds),
      requests_per_s: round(counters.requests / wallSeconds),
      output_tokens_per_s: round(counters.outputTokens / wallSeconds, 1),
    },
    estimate: {
      ...input.estimate,
      actual_input_tokens: counters.inputTokens,
      actual_output_tokens: counters.outputTokens,
    },
  };
}

export type RunReport = ReturnType<typeof buildReport>;
