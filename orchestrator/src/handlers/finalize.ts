/**
 * Finalize: turn the run's per-sample objects into the dataset contract of `raiden generate`
 * (samples.jsonl, rejects.jsonl, train.json, validation.json, dataset_stats.json, report.json) under
 * `runs/<run id>/`, with the counters of every batch invocation summed, through the same finishRun as the CLI.
 */
import { PARTS, RUN_FILES, runKey, runPrefix, TEMP_FILES } from '../contract/run-layout.ts';
import { s3Uri } from '../contract/s3-uri.ts';
import type { BatchResult, FinalizeEvent, FinalizeOutput } from '../contract/workflow-payloads.ts';
import { BATCH_REQUESTS_IN_FLIGHT, batchId } from '../core/run/batch-plan.ts';
import type { ExportFormat } from '../core/export/export-formats.ts';
import { ExportError, exportRun, type ExportSink, type ExportSource } from '../core/export/run-export.ts';
import { newCounters, type EmptySlot, type GenerationCounters } from '../core/run/generation-run.ts';
import { DEFAULT_PRICES } from '../core/report/model-prices.ts';
import { connectRunBackends, rolesFor } from '../core/run/run-backends.ts';
import { writeReportHtml } from '../core/report/report-html.ts';
import { finishRun } from '../core/run/run-pipeline.ts';
import { strategyByName } from '../core/strategies/registry.ts';
import { lambdaBackendSettings } from './lambda-backends.ts';
import { awsClients } from './handler-env.ts';
import { logger, type Logger } from './observability.ts';
import { batchInferenceLocation, batchInferenceReport, type SubmittedJobs } from './batch-inference.ts';
import { outputsBucket, runStore, tempStore, type WorkflowPlan } from './run-files.ts';

export type { FinalizeEvent, FinalizeOutput };

export async function handler(event: FinalizeEvent): Promise<FinalizeOutput> {
  const log = logger({ handler: 'finalize', runId: event.runId });
  const parts = runStore(awsClients().s3, event.runId);
  const plan = await parts.readJson<WorkflowPlan>(RUN_FILES.plan);
  if (plan === undefined) throw new Error(`run ${event.runId} has no ${RUN_FILES.plan}: Plan did not finish for it`);

  const { counters, emptySlots, finished } = await foldResults(parts.listJson<BatchResult>(PARTS.results), plan);
  const failedBatches = plan.batches.total - finished.size;

  const store = await parts.consolidate();
  const strategy = strategyByName(plan.spec.strategy);
  const roles = rolesFor({ kind: 'finish' }, strategy, plan.assignment);
  const backends =
    roles.length === 0
      ? undefined
      : await connectRunBackends({ spec: plan.spec, roles, gates: false, settings: lambdaBackendSettings(DEFAULT_PRICES) });
  const { report } = await finishRun({
    plan,
    store,
    counters,
    emptySlots,
    prices: DEFAULT_PRICES,
    sglangInstances: plan.batches.sglang > 0 ? plan.instances : 0,
    backends,
    concurrency: BATCH_REQUESTS_IN_FLIGHT,
    extraSections: {
      ...(await batchInferenceSection(event.runId, plan)),
      workflow: {
        execution_arn: plan.executionArn,
        input: plan.spec,
        batches: {
          total: plan.batches.total,
          on_sglang: plan.batches.sglang,
          on_bedrock: plan.batches.bedrock,
          seed: plan.batches.seed,
          finished: finished.size,
          failed: failedBatches,
          unfinished_batch_ids: unfinishedIds(plan.batches.total, finished),
        },
      },
    },
  });
  await writeReportHtml(store, { prices: DEFAULT_PRICES, sglangInstances: plan.batches.sglang > 0 ? plan.instances : 1 });
  for (const format of plan.spec.exportFormats ?? []) await writeExport(plan.runId, format, log);
  const uri = s3Uri(outputsBucket(), runKey(plan.runId, RUN_FILES.report));
  log.info('run finalized', {
    status: report.status,
    accepted: report.samples.accepted,
    slots: plan.slots.total,
    emptySlots: emptySlots.length,
    failedBatches,
    report: uri,
  });
  return {
    runId: plan.runId,
    status: report.status,
    accepted: report.samples.accepted,
    slots: plan.slots.total,
    emptySlots: emptySlots.length,
    failedBatches,
    report: uri,
  };
}

/**
 * report.json's bedrock_batch for a run with bedrockBatchInference, in raiden generate's shape: the jobs with
 * their status and records, what they answered, or why none was submitted when the slots ran on demand.
 */
async function batchInferenceSection(runId: string, plan: WorkflowPlan): Promise<Record<string, unknown>> {
  if (plan.spec.bedrockBatchInference !== true) return {};
  const submitted = await tempStore(awsClients().s3, runId).readJson<SubmittedJobs>(TEMP_FILES.batchInferenceJobs);
  if (submitted === undefined) return {};
  return { bedrock_batch: batchInferenceReport(submitted, batchInferenceLocation(runId)) };
}

/**
 * One trainer export under runs/<id>/exports/<format>/. A run that cannot be exported (no accepted sample)
 * is logged, not failed: its dataset is still there.
 */
async function writeExport(runId: string, format: ExportFormat, log: Logger): Promise<void> {
  const run = runStore(awsClients().s3, runId);
  const out = `exports/${format}/`;
  const source: ExportSource = { location: run.location, readJson: (name) => run.readJson(name), readLines: (name) => run.readLines(name) };
  const sink: ExportSink = {
    location: s3Uri(outputsBucket(), `${runPrefix(runId)}${out}`),
    // Data files arrive as chunks while the run is read: a multipart upload takes them, so no file is held whole.
    write: (name, body) => run.writeFile(`${out}${name}`, body),
  };
  try {
    const summary = await exportRun(source, sink, { format });
    log.info('export written', { format, location: summary.location, rows: summary.rows });
  } catch (error) {
    if (!(error instanceof ExportError)) throw error;
    log.warn('export skipped', { format, reason: error.message });
  }
}

function addCounters(counters: GenerationCounters, result: BatchResult): void {
  counters.accepted += result.accepted;
  counters.rejected += result.rejected;
  counters.requests += result.requests;
  counters.transportFailures += result.transportFailures;
  counters.inputTokens += result.inputTokens;
  counters.outputTokens += result.outputTokens;
  for (const [reason, count] of Object.entries(result.rejectsByReason))
    counters.rejectsByReason[reason] = (counters.rejectsByReason[reason] ?? 0) + count;
}

/** Batch ids (b00000...) with no finished invocation: failed for good, or never run. */
function unfinishedIds(total: number, finished: ReadonlySet<string>): string[] {
  const ids: string[] = [];
  for (let index = 0; index < total; index++) {
    const id = batchId(index);
    if (!finished.has(id)) ids.push(id);
  }
  return ids;
}

/**
 * The counters of every batch invocation of this execution summed, the empty slots of each batch's latest
 * invocation, and the batches whose latest invocation finished. Results come in key order (by batch, then
 * by invocation time), so a batch's latest is the last of its run of results: one result is held at a time.
 */
async function foldResults(
  results: AsyncIterable<BatchResult>,
  plan: WorkflowPlan,
): Promise<{ counters: GenerationCounters; emptySlots: EmptySlot[]; finished: Set<string> }> {
  const counters = newCounters(plan.slots.total, 0);
  const emptySlots: EmptySlot[] = [];
  const finished = new Set<string>();
  let latest: BatchResult | undefined;
  const close = () => {
    if (latest === undefined) return;
    for (const slot of latest.emptySlots) emptySlots.push(slot);
    if (latest.stopped === undefined) finished.add(latest.batchId);
  };
  for await (const result of results) {
    // A rerun with the same run id reports what this execution did; earlier samples count as already done.
    if (result.executionArn !== plan.executionArn) continue;
    if (result.batchId !== latest?.batchId) {
      close();
      counters.alreadyDone += result.alreadyDone;
    }
    latest = result;
    addCounters(counters, result);
  }
  close();
  counters.emptySlots = emptySlots.length;
  return { counters, emptySlots, finished };
}
