import type { RunEstimate } from './cost-estimate.ts';
import type { DatasetSummary } from '../run/finalize-run.ts';
import type { EmptySlot, GenerationCounters } from '../run/generation-run.ts';
import type { InputRejection } from '../profiles/profile.ts';
import type { RunHistory } from './run-events.ts';

export interface ReportInput {
  readonly runId: string;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly input: { readonly file: string; readonly format: string; readonly usable: number; readonly rejected: readonly InputRejection[] };
  readonly plan: { readonly profiles: number; readonly slots: number; readonly sbk: number; readonly cm: number };
  readonly counters: GenerationCounters;
  readonly emptySlots: readonly EmptySlot[];
  readonly dataset: DatasetSummary;
  readonly estimate: RunEstimate;
  readonly stoppedReason?: string | undefined;
  /** The run over all its invocations; this invocation alone when absent. */
  readonly history?: RunHistory | undefined;
  /** Tokens paid over the whole run (every sample, reject and review call its files hold); this invocation's when absent. */
  readonly runTokens?: { readonly input: number; readonly output: number } | undefined;
}

const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;

/**
 * report.json: counts, rejects by reason, requests, tokens, wall time, throughput, estimate vs actual. The
 * run's start, running time and actual tokens cover every invocation; requests, throughput and
 * `wall_time_s` are this invocation's.
 */
export function buildReport(input: ReportInput) {
  const { counters } = input;
  const wallSeconds = Math.max(0.001, (input.finishedAt.getTime() - input.startedAt.getTime()) / 1000);
  const { dataset } = input;
  const complete = input.emptySlots.length === 0 && input.stoppedReason === undefined && dataset.samples >= input.plan.slots;
  return {
    run_id: input.runId,
    status: input.stoppedReason !== undefined ? 'stopped' : complete ? 'complete' : 'incomplete',
    ...(input.stoppedReason !== undefined ? { stopped_reason: input.stoppedReason } : {}),
    // A resumed run is described whole; what this invocation did is labelled as such.
    started_at: (input.history?.startedAt ?? input.startedAt).toISOString(),
    finished_at: input.finishedAt.toISOString(),
    invocations: input.history?.invocations ?? 1,
    run_time_s: round(input.history?.runSeconds ?? wallSeconds),
    this_invocation: { started_at: input.startedAt.toISOString(), wall_time_s: round(wallSeconds) },
    input: {
      file: input.input.file,
      format: input.input.format,
      profiles_usable: input.input.usable,
      profiles_rejected: input.input.rejected.length,
      rejected_profiles: input.input.rejected,
    },
    plan: input.plan,
    samples: {
      accepted: dataset.samples,
      accepted_this_invocation: counters.accepted,
      already_done_before: counters.alreadyDone,
      empty_slots: input.emptySlots.length,
      train: dataset.train,
      validation: dataset.validation,
      validation_profiles: dataset.validationProfiles,
    },
    empty_slots: input.emptySlots,
    rejects: {
      this_invocation: counters.rejected,
      this_invocation_by_reason: counters.rejectsByReason,
      total: dataset.rejects,
      total_by_reason: dataset.rejectsByReason,
    },
    requests: {
      this_invocation: counters.requests,
      transport_failures: counters.transportFailures,
      per_accepted_sample: counters.accepted > 0 ? round(counters.requests / counters.accepted) : null,
    },
    tokens: {
      this_invocation: { input: counters.inputTokens, output: counters.outputTokens },
      by_model: dataset.usageByModel,
    },
    wall_time_s: round(wallSeconds),
    throughput: {
      samples_per_s: round(counters.accepted / wallSeconds),
      requests_per_s: round(counters.requests / wallSeconds),
      output_tokens_per_s: round(counters.outputTokens / wallSeconds, 1),
    },
    estimate: {
      ...input.estimate,
      actual_input_tokens: input.runTokens?.input ?? counters.inputTokens,
      actual_output_tokens: input.runTokens?.output ?? counters.outputTokens,
      actual_input_tokens_this_invocation: counters.inputTokens,
      actual_output_tokens_this_invocation: counters.outputTokens,
    },
  };
}

export type RunReport = ReturnType<typeof buildReport>;
