/** `raiden generate`: a run on this machine, from flags to report.json, through the same core as the workflow. */
import { join } from 'node:path';
import { RUN_FILES } from '../contract/run-layout.ts';
import {
  DEFAULT_COST_ASSUMPTIONS,
  EXPECTED_OUTPUT_TOKENS,
  JUDGE_OUTPUT_TOKENS,
  type CostAssumptions,
} from '../core/report/cost-estimate.ts';
import { baseModelId, bedrockPrice, DEFAULT_BEDROCK_MODEL, type Prices } from '../core/report/model-prices.ts';
import type { BackendFactory } from '../core/ports/backend-factory.ts';
import type { ResponseCache } from '../core/ports/response-cache.ts';
import { writeProfileTable } from '../core/export/profile-table.ts';
import { claimPreparedRun, prepareRun, type PreparedRun } from '../core/run/prepare-run.ts';
import { writeReportHtml } from '../core/report/report-html.ts';
import { RunEventLog } from '../core/report/run-events.ts';
import { buildMessages } from '../core/prompts/prompts.ts';
import { modelLabels } from '../core/run/run-backends.ts';
import {
  resumeCounters,
  existingSamples,
  finishRun,
  generateAllPhases,
  localGenerationSettings,
  stoppedReasonOf,
} from '../core/run/run-pipeline.ts';
import type { RunSpec } from '../core/run/run-spec.ts';
import { responseSchema } from '../core/prompts/sample-schema.ts';
import type { RepairedLine } from '../store/jsonl.ts';
import { fileChunks } from '../store/file-chunks.ts';
import { boundHeapGrowth } from './bounded-heap.ts';
import type { LocalRunStore } from '../store/local-run-store.ts';
import type { CliIo } from './cli-io.ts';
import { connectLocalBackends, localBackendSettings } from './local-backends.ts';
import { processWriter } from './process-writer.ts';
import { warnCacheErrors } from './response-cache-options.ts';
import { ProgressDisplay } from './progress-display.ts';
import { openRunDirectory } from './run-directory.ts';
import { loadPricesFlag, loadSeedData } from './run-inputs.ts';
import { withFlagErrors } from './run-spec-flags.ts';
import { printable } from './terminal-text.ts';
import { formatDuration, formatUsd, textTable } from './text-table.ts';
import { EXIT, UsageError } from './usage-error.ts';

/** How often the requests in flight are recorded for report.html. */
const IN_FLIGHT_SAMPLE_MS = 5_000;

export interface GenerateOptions {
  readonly spec: RunSpec;
  /** Run directory; ./runs/<run id> when absent. */
  readonly out?: string | undefined;
  readonly apiKey?: string | undefined;
  readonly dryRun: boolean;
  /** Where answers already paid for are reused from and new ones stored (--cache-dir); none with --no-cache. */
  readonly cache?: ResponseCache | undefined;
  /** The estimate's prices and speeds given as flags; the rest come from the price table (and --price-file). */
  readonly estimate: Partial<
    Pick<CostAssumptions, 'bedrockInputUsdPerMTok' | 'bedrockOutputUsdPerMTok' | 'gpuUsdPerHour' | 'sglangTokensPerSecond'>
  >;
}

/** What tests replace: how backends are built, and the clock. */
export interface GenerateDependencies {
  readonly createBackend?: BackendFactory;
  readonly now?: () => Date;
}

export async function runGenerate(options: GenerateOptions, io: CliIo, deps: GenerateDependencies = {}): Promise<number> {
  boundHeapGrowth();
  const now = deps.now ?? (() => new Date());
  const { spec } = options;
  // Read in chunks at each pass over the file, so a file of a million profiles is never held whole.
  const bytes = await fileChunks(spec.profiles).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read --profiles ${spec.profiles}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
  });
  // Prices first: the dry run's estimate uses --price-file as the report does, and a bad file is a usage error either way.
  const prices = await loadPricesFlag(spec.priceFile);
  const costs = estimateAssumptions(spec, options.estimate, prices);
  const prepared = await withFlagErrors(() => prepareRun(spec, { bytes, location: spec.profiles }, { startedAt: now(), costs }));
  for (const rejection of prepared.plan.input.rejected)
    io.stderr.write(`raiden: skipped profile at ${printable(rejection.location)}: ${printable(rejection.reason)}\n`);
  const { plan } = prepared;
  const outDir = options.out ?? join('runs', plan.runId);
  const directory = await openRunDirectory(
    outDir,
    options.out === undefined ? `the run directory ${outDir}` : `--out ${outDir}`,
    processWriter('raiden generate'),
    io.stderr,
  );
  const { store } = directory;
  try {
    if (options.dryRun) return await dryRun(prepared, store, costs, prices, io);

    const create =
      deps.createBackend ??
      (await import('../llm/backend-factory.ts')).createBackendFactory({
        maxResponseBytes: spec.maxResponseBytes,
        stopRequested: io.stopRequested,
        preflight: true,
      });
    let backends = await connectLocalBackends(prepared, localBackendSettings(spec, options.apiKey, prices, create, options.cache));
    await withFlagErrors(() => claimPreparedRun(store, prepared));
    await writeProfileTable(store, prepared);
    // Every accepted sample and reject is also an event with its time: the time series of report.html.
    const events = new RunEventLog(store, { now, startedAt: new Date(plan.startedAt) });
    await events.prepareAppends();
    reportRepairs(store.repaired, io);
    const existing = await existingSamples(events);
    const counters = resumeCounters(prepared, existing);
    io.stderr.write(
      `raiden: run ${plan.runId} in ${outDir}: ${plan.profileIds.length} profiles, ${plan.slots.total} slots (${counters.alreadyDone} already done), model ${modelLabels(
        backends.all(),
      )
        .map((label) => printable(label.replace(/^sglang:/u, '')))
        .join(', ')}\n`,
    );
    const seedData = spec.seedData !== undefined ? await loadSeedData(spec.seedData) : undefined;
    const generation = localGenerationSettings(spec.concurrency, { now, shouldStop: io.stopRequested });
    let batchReport: Record<string, unknown> = {};
    if (spec.bedrockBatch !== undefined) {
      const prefetch = await (
        await import('./bedrock-batch-prefetch.ts')
      ).prefetchBedrockBatch({ backends, spec, prepared, existing, stderr: io.stderr });
      backends = prefetch.backends;
      batchReport = prefetch.report;
    }

    const inFlight = () => backends.all().reduce((sum, backend) => sum + backend.inFlight(), 0);
    const progress = new ProgressDisplay(counters, inFlight, io.stderr, { cost: { usage: events.usage, prices, sglangInstances: 1 } });
    const stopSampling = events.sampleEvery(inFlight, IN_FLIGHT_SAMPLE_MS);
    progress.start();
    const outcome = await generateAllPhases({
      prepared,
      store: events,
      backends,
      counters,
      existing,
      settings: generation,
      seedData,
    }).finally(() => {
      stopSampling();
      progress.stop();
    });
    const stoppedReason = stoppedReasonOf(outcome, generation);
    const { report } = await finishRun({
      plan,
      store: events,
      counters,
      emptySlots: outcome.emptySlots,
      prices,
      sglangInstances: 1,
      backends,
      concurrency: spec.concurrency,
      stoppedReason,
      now,
      extraSections: batchReport,
    });
    // After the evaluation and the dataset files: the invocation's span, which bills GPU time, covers them.
    await events.finish();
    await writeReportHtml(events, { prices, sglangInstances: 1 });

    warnCacheErrors(backends.cacheStats()?.errors ?? 0, options.cache, io.stderr);
    const shared = Object.keys(report.backends).some((backend) => backend !== 'sglang') || report.strategy.gates.length > 0;
    const backendTable = shared ? `\n\n${textTable(backendSummaryRows(report))}` : '';
    io.stdout.write(
      `${summaryTable(report)}${backendTable}\n\nOutputs in ${outDir}: samples.jsonl, train.json, validation.json, dataset_stats.json, report.json, report.html, rejects.jsonl\n`,
    );
    if (stoppedReason !== undefined) {
      io.stderr.write(
        `raiden: stopped early (${printable(stoppedReason)}); ${report.samples.accepted} samples are kept; run the same command again to continue\n`,
      );
      return EXIT.failure;
    }
    if (report.samples.empty_slots > 0) {
      io.stderr.write(
        `raiden: ${report.samples.empty_slots} slots stayed empty after ${spec.maxAttempts} attempts (listed in report.json); run the same command again to retry them\n`,
      );
      return EXIT.incomplete;
    }
    return EXIT.ok;
  } finally {
    await directory.release();
  }
}

/** Says which lines of the run's files were not records and where they were put: a torn write of an older raiden. */
export function reportRepairs(repaired: readonly RepairedLine[], io: CliIo): void {
  for (const { file, line, salvaged } of repaired)
    io.stderr.write(
      `raiden: ${printable(file)} line ${line} was not a JSON record (a torn write); moved to ${printable(file)}.corrupt${salvaged ? ', and the whole record glued to it kept' : ''}\n`,
    );
}

/** The estimate's prices and speeds: the flags when given, else the price table (with --price-file) for --bedrock-model. */
function estimateAssumptions(spec: RunSpec, flags: GenerateOptions['estimate'], prices: Prices): CostAssumptions {
  const d = DEFAULT_COST_ASSUMPTIONS;
  const price = bedrockPrice(spec.bedrockModel, prices.bedrock);
  return {
    ...d,
    bedrockInputUsdPerMTok: flags.bedrockInputUsdPerMTok ?? price?.inputUsdPerMTok ?? d.bedrockInputUsdPerMTok,
    bedrockOutputUsdPerMTok: flags.bedrockOutputUsdPerMTok ?? price?.outputUsdPerMTok ?? d.bedrockOutputUsdPerMTok,
    bedrockBatchFactor: price?.batchFactor ?? d.bedrockBatchFactor,
    bedrockConcurrency: spec.bedrockMaxConcurrency,
    gpuUsdPerHour: flags.gpuUsdPerHour ?? prices.gpuUsdPerHour,
    sglangTokensPerSecond: flags.sglangTokensPerSecond ?? d.sglangTokensPerSecond,
  };
}

/** Plans and prices the run without any network: every prompt goes to prompts.jsonl for inspection. */
async function dryRun(prepared: PreparedRun, store: LocalRunStore, c: CostAssumptions, prices: Prices, io: CliIo): Promise<number> {
  const { plan, strategy } = prepared;
  // Streamed from the plan, so a dry run of a million profiles never holds their prompts or slots.
  function* promptLines(): Generator<string> {
    for (const { profile, slot } of prepared.plannedSlots()) {
      yield JSON.stringify({
        slot_id: slot.id,
        kind: slot.kind,
        focus: slot.focus,
        response_schema: responseSchema(slot.kind).name,
        messages: buildMessages(profile, slot),
      });
    }
  }
  await store.writeLines(RUN_FILES.prompts, promptLines());
  const { estimate } = plan;
  const { shape } = estimate;
  const n = (value: number) => Math.round(value).toLocaleString('en-US');
  const onBedrock = prepared.slotsOn.bedrock;
  const bedrockWork = [
    ...(onBedrock > 0 ? [`${n(onBedrock)} slots`] : []),
    ...(shape.judgeCallsPerSlot > 0 ? [`${n(shape.judgeCallsPerSlot)} judge call(s) per slot`] : []),
    ...(shape.evaluationCalls > 0 ? [`evaluation of ${n(Math.min(shape.evaluationCalls, plan.slots.total))} samples`] : []),
  ];
  const sglangSlots = plan.slots.total - onBedrock;
  const sglangWork =
    sglangSlots > 0 ? [`${n(sglangSlots)} slots${shape.callsPerSlot > 1 ? ` x ${shape.callsPerSlot} candidates` : ''}`] : [];
  const rows: (string | number)[][] = [['backend', 'work', 'calls', 'input tok', 'output tok', 'time', 'cost']];
  if (bedrockWork.length > 0) {
    rows.push([
      bedrockLabel(plan.spec.bedrockModel),
      bedrockWork.join(', '),
      estimate.bedrock.calls,
      estimate.bedrock.input_tokens,
      estimate.bedrock.output_tokens,
      formatDuration(estimate.bedrock.hours * 3600),
      formatUsd(estimate.bedrock.usd),
    ]);
    rows.push(['Bedrock batch inference', 'the same calls', '', '', '', 'hours, up to 24 h', formatUsd(estimate.bedrock.batch_usd)]);
  }
  if (sglangWork.length > 0) {
    rows.push([
      'SGLang on 1 p5en.48xlarge',
      sglangWork.join(', '),
      estimate.sglang.calls,
      estimate.sglang.input_tokens,
      estimate.sglang.output_tokens,
      formatDuration(estimate.sglang.hours * 3600),
      formatUsd(estimate.sglang.usd),
    ]);
  }
  rows.push(['total', '', '', '', '', '', formatUsd(estimate.total_usd)]);
  const batchNote =
    plan.spec.bedrockBatch === undefined
      ? []
      : await (await import('./bedrock-batch-prefetch.ts')).bedrockBatchDryRun(prepared, store.location);
  io.stdout.write(
    [
      `Dry run: no model was called. Prompts written to ${join(store.location, RUN_FILES.prompts)}`,
      '',
      `Profiles: ${plan.input.usable} usable, ${plan.input.rejected.length} rejected (format ${plan.input.format}); planned: ${plan.profileIds.length}`,
      `Slots: ${plan.slots.total} (${plan.slots.sbk} SBK, ${plan.slots.cm} CM)`,
      `Strategy ${strategy.name}: ${strategy.description}`,
      `Estimated tokens: ${n(estimate.inputTokens)} input (counted from the prompts at ~1 token per CJK character and per 4 other characters), ${n(estimate.outputTokens)} output (assumed ${EXPECTED_OUTPUT_TOKENS.SBK} per SBK and ${EXPECTED_OUTPUT_TOKENS.CM} per CM sample, ${JUDGE_OUTPUT_TOKENS} per verdict)`,
      '',
      textTable(rows),
      '',
      `For comparison, the same slots at one call each: ${formatUsd(estimate.all_on_bedrock_usd)} all on Bedrock, ${formatUsd(estimate.all_on_sglang_usd)} all on SGLang.`,
      ...batchNote,
      '',
      'Assumptions:',
      `  Bedrock ${baseModelId(plan.spec.bedrockModel)}: $${c.bedrockInputUsdPerMTok}/$${c.bedrockOutputUsdPerMTok} per M input/output tokens, batch inference at ${Math.round(c.bedrockBatchFactor * 100)}% of that; ${c.bedrockConcurrency} requests x ${c.bedrockTokensPerSecondPerRequest} tok/s`,
      `  SGLang: $${c.gpuUsdPerHour}/h for the instance; ${c.sglangTokensPerSecond.toLocaleString('en-US')} output tok/s; excludes ~10-20 min of boot and weight loading`,
      `  prices as of ${prices.asOf}; one call per slot and candidate (rejected attempts and retries add to it); no prompt-cache discount`,
      'Override them with --price-file, --bedrock-input-usd, --bedrock-output-usd, --gpu-usd-per-hour and --sglang-tokens-per-second.',
      '',
    ].join('\n'),
  );
  return EXIT.ok;
}

function bedrockLabel(model = DEFAULT_BEDROCK_MODEL): string {
  return model === DEFAULT_BEDROCK_MODEL ? 'Bedrock (Claude Sonnet)' : `Bedrock (${baseModelId(model)})`;
}

type Report = Awaited<ReturnType<typeof finishRun>>['report'];

/** Rows for the end-of-run summary: samples, review calls and cost per backend. */
function backendSummaryRows(report: Report): (string | number)[][] {
  const rows: (string | number)[][] = [['backend', 'samples', 'rejects', 'review calls', 'cost (USD)']];
  for (const [backend, row] of Object.entries(report.backends))
    rows.push([backend, row.samples, row.rejects, row.review_calls, row.usd === null ? 'price unknown' : row.usd]);
  const evaluation = 'evaluation' in report ? report.evaluation : undefined;
  if (evaluation !== undefined && evaluation.pass_rate !== null) {
    rows.push([
      `evaluation by ${evaluation.judge_model}`,
      `${evaluation.passed}/${evaluation.judged} passed`,
      '',
      '',
      `pass rate ${(evaluation.pass_rate * 100).toFixed(1)}%`,
    ]);
  }
  return rows;
}

function summaryTable(report: Report): string {
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
    ['answers from the response cache', report.cache.hits],
    ['train / validation samples', `${report.samples.train} / ${report.samples.validation}`],
  ];
  for (const [reason, count] of Object.entries(report.rejects.this_invocation_by_reason)) rows.push([`  reject: ${reason}`, count]);
  return textTable(rows);
}
