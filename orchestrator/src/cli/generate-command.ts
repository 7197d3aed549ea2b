import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { estimateRun, type CostAssumptions, type RunEstimate } from '../core/cost-estimate.ts';
import { baseModelId, DEFAULT_BEDROCK_MODEL, PRICES_AS_OF } from '../core/model-prices.ts';
import { finalizeRun } from '../core/finalize-run.ts';
import { newCounters, WORKERS_PER_IN_FLIGHT_REQUEST, type ExistingSample } from '../core/generation-run.ts';
import { planSlots, type LanguageChoice, type PlanSettings, type Slot } from '../core/plan.ts';
import type { Profile } from '../core/profile.ts';
import { ProfileFormatError, type ProfileFormat } from '../core/profile-formats.ts';
import { parseProfiles, type LoadedProfiles } from '../core/profile-loader.ts';
import { buildMessages, estimatePromptTokens } from '../core/prompts.ts';
import { buildReport } from '../core/run-report.ts';
import { claimRun, deriveRunId, manifestPlan, type RunManifest, sha256 } from '../core/run-manifest.ts';
import { responseSchema } from '../core/sample-schema.ts';
import { estimateTokens } from '../core/text-normalize.ts';
import type { GenerationBase } from '../core/strategies/strategy.ts';
import { BackendUnavailableError } from '../core/ports/llm-backend.ts';
import { SglangBackend } from '../llm/sglang-backend.ts';
import { LocalRunStore } from '../store/local-run-store.ts';
import { ProgressDisplay, type ProgressOutput } from './progress-display.ts';
import { formatDuration, formatUsd, textTable } from './text-table.ts';
import { backendSummaryRows, runStrategy, strategyRunId, strategyValidationRatio } from './strategy-run.ts';
import { connectRun, DEFAULT_STRATEGY_FLAGS, type StrategyFlags } from './strategy-setup.ts';
import { EXIT, UsageError } from './usage-error.ts';

export interface GenerateFlags {
  readonly profiles: string;
  readonly format?: ProfileFormat | undefined;
  readonly out?: string | undefined;
  readonly endpoint: readonly string[];
  readonly model?: string | undefined;
  readonly apiKey?: string | undefined;
  readonly samplesPerProfile: number;
  readonly includeCm: boolean;
  readonly cmPerProfile?: number | undefined;
  readonly maxProfiles?: number | undefined;
  readonly language: LanguageChoice;
  readonly concurrency: number;
  readonly maxAttempts: number;
  readonly validationRatio: number;
  readonly seed: number;
  readonly dryRun: boolean;
  readonly requestTimeout: number;
  readonly maxRetries: number;
  readonly maxTokens: number;
  readonly temperature: number;
  readonly costs: CostAssumptions;
  /** Backends, strategy and quality gates; the SGLang-only defaults when absent. */
  readonly strategy?: StrategyFlags;
}

export interface CliIo {
  readonly stdout: ProgressOutput;
  readonly stderr: ProgressOutput;
  /** Set by a signal handler: workers finish the request in hand and take no new slot. */
  readonly stopRequested?: () => boolean;
}

export async function runGenerate(flags: GenerateFlags, io: CliIo): Promise<number> {
  const startedAt = new Date();
  const bytes = await readFile(flags.profiles).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read --profiles ${flags.profiles}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
  });
  const loaded = loadProfiles(bytes, flags);
  reportInputRejections(loaded, io);
  if (loaded.profiles.length === 0) {
    throw new UsageError(`no usable profiles in ${flags.profiles} (${loaded.rejected.length} rejected, reasons above): fix the file or choose another`);
  }

  const settings: PlanSettings = {
    samplesPerProfile: flags.samplesPerProfile,
    cmPerProfile: flags.includeCm || flags.cmPerProfile !== undefined ? (flags.cmPerProfile ?? 1) : 0,
    maxProfiles: flags.maxProfiles,
    language: flags.language,
    seed: flags.seed,
  };
  const slots = planSlots(loaded.profiles, settings);
  if (slots.length === 0) throw new UsageError('nothing to generate: set --samples-per-profile or --include-cm above zero');
  const profiles = new Map(loaded.profiles.map((profile) => [profile.id, profile]));
  const profileIds = [...new Set(slots.map((slot) => slot.profileId))];
  const digest = sha256(bytes);
  const strategyFlags = flags.strategy ?? DEFAULT_STRATEGY_FLAGS;
  const runId = strategyRunId(deriveRunId(flags.profiles, digest, loaded.format, settings), strategyFlags.strategy);
  const outDir = flags.out ?? join('runs', runId);
  const store = await LocalRunStore.open(outDir);

  try {
    if (flags.dryRun) return await dryRun({ flags, io, loaded, slots, profiles, profileIds, store });

    const backend = await connectRun(strategyFlags, flags, (model, endpoints) => connect(flags, model, endpoints));
    const manifest: RunManifest = {
      run_id: runId,
      created_at: startedAt.toISOString(),
      profiles_file: flags.profiles,
      profiles_sha256: digest,
      format: loaded.format,
      plan: manifestPlan(settings),
    };
    await claimRunDirectory(store, manifest, outDir);

    await store.prepareAppends();
    const existing: ExistingSample[] = [];
    for await (const sample of store.readSamples()) existing.push({ id: sample.id, question: sample.question });
    const estimate = estimateSlots(slots, profiles, flags.costs);
    const doneIds = new Set(existing.map((sample) => sample.id));
    const counters = newCounters(slots.length, slots.filter((slot) => doneIds.has(slot.id)).length);
    io.stderr.write(
      `raiden: run ${runId} in ${outDir}: ${profileIds.length} profiles, ${slots.length} slots (${counters.alreadyDone} already done), model ${backend.models().join(', ')}\n`,
    );
    const generation: GenerationBase = {
      profiles,
      slots,
      store,
      existing,
      concurrency: flags.concurrency * WORKERS_PER_IN_FLIGHT_REQUEST,
      maxAttempts: flags.maxAttempts,
      maxTokens: flags.maxTokens,
      temperature: flags.temperature,
      ...(io.stopRequested ? { shouldStop: io.stopRequested } : {}),
    };
    const batch =
      strategyFlags.bedrockBatch === undefined
        ? { run: backend, report: {} }
        : await (await import('./bedrock-batch-prefetch.ts')).prefetchBedrockBatch({ run: backend, flags: strategyFlags, generation, runId, stderr: io.stderr });
    const progress = new ProgressDisplay(counters, () => backend.inFlight(), io.stderr);
    progress.start();
    const validationRatio = strategyValidationRatio(strategyFlags, flags.validationRatio, profileIds.length);
    const outcome = await runStrategy({
      run: batch.run,
      flags: strategyFlags,
      profileIds,
      validationRatio,
      seed: flags.seed,
      store,
      counters,
      generation,
    }).finally(() => progress.stop());

    const dataset = await finalizeRun(store, { profileIds, validationRatio, seed: flags.seed });
    const stoppedReason = outcome.fatalError ?? (io.stopRequested?.() ? 'interrupted' : undefined);
    const report = buildReport({
      runId,
      startedAt,
      finishedAt: new Date(),
      input: { file: flags.profiles, format: loaded.format, usable: loaded.profiles.length, rejected: loaded.rejected },
      plan: { profiles: profileIds.length, slots: slots.length, sbk: countKind(slots, 'SBK'), cm: countKind(slots, 'CM') },
      counters: outcome.counters,
      emptySlots: outcome.emptySlots,
      dataset,
      estimate,
      stoppedReason,
    });
    const sections = await outcome.reportSections(report.wall_time_s);
    await store.writeJson('report.json', { ...report, ...sections, ...batch.report });
    const backendTable = strategyFlags.strategy === 'sglang' && backend.gates.length === 0 ? '' : `\n\n${textTable(backendSummaryRows(sections))}`;
    io.stdout.write(`${summaryTable(report)}${backendTable}\n\nOutputs in ${outDir}: samples.jsonl, train.json, validation.json, dataset_stats.json, report.json, rejects.jsonl\n`);
    if (stoppedReason !== undefined) {
      io.stderr.write(`raiden: stopped early (${stoppedReason}); ${report.samples.accepted} samples are kept; run the same command again to continue\n`);
      return EXIT.failure;
    }
    if (report.samples.empty_slots > 0) {
      io.stderr.write(`raiden: ${report.samples.empty_slots} slots stayed empty after ${flags.maxAttempts} attempts (listed in report.json); run the same command again to retry them\n`);
      return EXIT.incomplete;
    }
    return EXIT.ok;
  } finally {
    store.close();
  }
}

function loadProfiles(bytes: Uint8Array, flags: GenerateFlags): LoadedProfiles {
  try {
    return parseProfiles(bytes, flags.profiles, flags.format);
  } catch (error) {
    if (error instanceof ProfileFormatError) throw new UsageError(error.message);
    throw error;
  }
}

function reportInputRejections(loaded: LoadedProfiles, io: CliIo): void {
  for (const rejection of loaded.rejected) io.stderr.write(`raiden: skipped profile at ${rejection.location}: ${rejection.reason}\n`);
}

async function connect(flags: GenerateFlags, model = flags.model, endpoints = flags.endpoint): Promise<SglangBackend> {
  try {
    return await SglangBackend.connect({
      endpoints,
      model,
      apiKey: flags.apiKey,
      requestTimeoutMs: flags.requestTimeout * 1000,
      retry: { maxRetries: flags.maxRetries, baseDelayMs: 500, maxDelayMs: 20_000 },
      maxInFlight: flags.concurrency,
    });
  } catch (error) {
    if (error instanceof BackendUnavailableError) throw new UsageError(error.message);
    throw error;
  }
}

async function claimRunDirectory(store: LocalRunStore, manifest: RunManifest, outDir: string): Promise<void> {
  const conflicts = await claimRun(store, manifest);
  if (conflicts.length > 0) {
    throw new UsageError(
      `${outDir} holds a run with other settings, so it cannot be resumed with these:\n  ${conflicts.join('\n  ')}\nUse the original settings to resume it, or pass another --out for a new run`,
    );
  }
}

function countKind(slots: readonly Slot[], kind: Slot['kind']): number {
  return slots.filter((slot) => slot.kind === kind).length;
}

function estimateSlots(slots: readonly Slot[], profiles: ReadonlyMap<string, Profile>, costs: CostAssumptions): RunEstimate {
  return estimateRun(
    slots.map((slot) => ({ kind: slot.kind, inputTokens: estimatePromptTokens(profiles.get(slot.profileId) as Profile, slot) })),
    costs,
  );
}

function promptTokens(messages: readonly { content: string }[]): number {
  return messages.reduce((sum, message) => sum + estimateTokens(message.content), 0);
}

interface DryRunContext {
  readonly flags: GenerateFlags;
  readonly io: CliIo;
  readonly loaded: LoadedProfiles;
  readonly slots: readonly Slot[];
  readonly profiles: ReadonlyMap<string, Profile>;
  readonly profileIds: readonly string[];
  readonly store: LocalRunStore;
}

/** Plans and prices the run without any network: every prompt goes to prompts.jsonl for inspection. */
async function dryRun({ flags, io, loaded, slots, profiles, profileIds, store }: DryRunContext): Promise<number> {
  const estimates: { kind: Slot['kind']; inputTokens: number }[] = [];
  function* promptLines(): Generator<string> {
    for (const slot of slots) {
      const messages = buildMessages(profiles.get(slot.profileId) as Profile, slot);
      estimates.push({ kind: slot.kind, inputTokens: promptTokens(messages) });
      yield JSON.stringify({ slot_id: slot.id, kind: slot.kind, focus: slot.focus, response_schema: responseSchema(slot.kind).name, messages });
    }
  }
  await store.writeLines('prompts.jsonl', promptLines());
  const estimate = estimateRun(estimates, flags.costs);
  const c = flags.costs;
  io.stdout.write(
    [
      `Dry run: no model was called. Prompts written to ${join(store.location, 'prompts.jsonl')}`,
      '',
      `Profiles: ${loaded.profiles.length} usable, ${loaded.rejected.length} rejected (format ${loaded.format}); planned: ${profileIds.length}`,
      `Slots: ${slots.length} (${countKind(slots, 'SBK')} SBK, ${countKind(slots, 'CM')} CM)`,
      `Estimated tokens: ${estimate.inputTokens.toLocaleString('en-US')} input (counted from the prompts at ~1 token per CJK character and per 4 other characters), ${estimate.outputTokens.toLocaleString('en-US')} output (assumed 350 per SBK and 650 per CM sample)`,
      '',
      textTable([
        ['backend', 'time', 'cost', 'assumptions'],
        [bedrockLabel(flags.strategy?.bedrockModel), formatDuration(estimate.bedrock.hours * 3600), formatUsd(estimate.bedrock.usd), `$${c.bedrockInputUsdPerMTok}/$${c.bedrockOutputUsdPerMTok} per M input/output tokens; ${c.bedrockConcurrency} requests x ${c.bedrockTokensPerSecondPerRequest} tok/s`],
        ['Bedrock batch inference', 'hours, up to 24 h', formatUsd(estimate.bedrock.batch_usd), `${Math.round((1 - c.bedrockBatchFactor) * 100)}% off on-demand; jobs of at least 100 records; prices as of ${PRICES_AS_OF}`],
        ['SGLang on 1 p5en.48xlarge', formatDuration(estimate.sglang.hours * 3600), formatUsd(estimate.sglang.usd), `$${c.gpuUsdPerHour}/h; ${c.sglangTokensPerSecond.toLocaleString('en-US')} output tok/s for the instance; excludes ~10-20 min of boot and weight loading`],
      ]),
      ...(flags.strategy?.bedrockBatch === undefined ? [] : (await import('./bedrock-batch-prefetch.ts')).bedrockBatchDryRunNote(flags.strategy.bedrockBatch, slots.length)),
      '',
      'Override the assumptions with --bedrock-input-usd, --bedrock-output-usd, --gpu-usd-per-hour and --sglang-tokens-per-second (Bedrock prices default to the price table entry for --bedrock-model).',
      '',
    ].join('\n'),
  );
  return EXIT.ok;
}

function bedrockLabel(model = DEFAULT_BEDROCK_MODEL): string {
  return model === DEFAULT_BEDROCK_MODEL ? 'Bedrock (Claude Sonnet)' : `Bedrock (${baseModelId(model)})`;
}

function summaryTable(report: ReturnType<typeof buildReport>): string {
  const rows: (string | number)[][] = [
    ['metric', 'value'],
    ['status', report.status],
    ['slots planned', report.plan.slots],
    ['samples accepted (total)', report.samples.accepted],
    ['  this invocation', report.samples.accepted_this_invocation],
    ['empty slots', report.samples.empty_slots],
    ['rejected attempts', report.rejects.this_invocation],
    ['requests', report.requests.this_invocation],
    ['transport failures (retried)', report.requests.transport_failures],
    ['input tokens', report.tokens.this_invocation.input],
    ['output tokens', report.tokens.this_invocation.output],
    ['wall time', formatDuration(report.wall_time_s)],
    ['samples/s', report.throughput.samples_per_s],
    ['train / validation samples', `${report.samples.train} / ${report.samples.validation}`],
  ];
  for (const [reason, count] of Object.entries(report.rejects.this_invocation_by_reason)) rows.push([`  reject: ${reason}`, count]);
  return textTable(rows);
}
