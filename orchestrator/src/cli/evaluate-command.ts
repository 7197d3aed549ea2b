import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { RUN_FILES } from '../contract/run-layout.ts';
import { supportsPromptCaching } from '../core/report/model-prices.ts';
import { RUN_DEFAULTS } from '../core/run/run-spec.ts';
import { buildUsageLedger, costReport } from '../core/report/run-cost.ts';
import { chooseForEvaluation, evaluateSamples, summarizeEvaluation } from '../core/review/sample-evaluation.ts';
import type { Sample } from '../core/verify/sample.ts';
import { BackendUnavailableError } from '../core/ports/llm-backend.ts';
import { LocalRunStore } from '../store/local-run-store.ts';
import { bedrockHint } from './bedrock-hints.ts';
import type { CliIo } from './cli-io.ts';
import { loadPricesFlag } from './run-inputs.ts';
import { printable } from './terminal-text.ts';
import { formatUsd, textTable } from './text-table.ts';
import { EXIT, UsageError } from './usage-error.ts';

export interface EvaluateFlags {
  readonly run: string;
  readonly judgeModel: string;
  readonly bedrockRegion?: string | undefined;
  readonly bedrockEndpoint?: string | undefined;
  readonly minScore: number;
  /** Judge at most this many samples (a seeded choice); all when absent. */
  readonly sample?: number | undefined;
  readonly concurrency: number;
  readonly seed: number;
  readonly priceFile?: string | undefined;
}

export const EVALUATION_REPORT_FILE = RUN_FILES.evaluationReport;

/** `raiden evaluate --run DIR`: scores an existing dataset with a judge model; writes evaluation.jsonl and evaluation_report.json. */
export async function runEvaluate(flags: EvaluateFlags, io: CliIo): Promise<number> {
  const startedAt = new Date();
  const samplesFile = join(flags.run, RUN_FILES.samples);
  if (
    !(await stat(samplesFile).then(
      (s) => s.isFile(),
      () => false,
    ))
  ) {
    throw new UsageError(`--run ${flags.run} has no samples.jsonl: pass the directory of a raiden generate run`);
  }
  const prices = await loadPricesFlag(flags.priceFile);
  const store = await LocalRunStore.open(flags.run);
  try {
    const samples: Sample[] = [];
    for await (const sample of store.readSamples()) samples.push(sample);
    if (samples.length === 0) throw new UsageError(`${samplesFile} holds no samples yet: run raiden generate first`);
    const chosen = chooseForEvaluation(samples, flags.sample ?? samples.length, flags.seed);
    const { createBackendFactory } = await import('../llm/backend-factory.ts');
    const judge = await createBackendFactory({ preflight: true, stopRequested: io.stopRequested })({
      kind: 'bedrock',
      modelId: flags.judgeModel,
      region: flags.bedrockRegion,
      endpoint: flags.bedrockEndpoint,
      maxConcurrency: flags.concurrency,
      promptCaching: supportsPromptCaching(flags.judgeModel, prices.bedrock),
      requestTimeoutMs: RUN_DEFAULTS.requestTimeoutSeconds * 1000,
      retry: { maxRetries: RUN_DEFAULTS.maxRetries, baseDelayMs: 500, maxDelayMs: 20_000 },
    }).catch((error: unknown) => {
      const hint = bedrockHint(error);
      throw hint === undefined ? error : new UsageError(printable(`${(error as Error).message}: ${hint}`));
    });
    io.stderr.write(`raiden: judging ${chosen.length} of ${samples.length} samples in ${flags.run} with bedrock:${flags.judgeModel}\n`);
    let records;
    try {
      records = await evaluateSamples(chosen, judge, { minScore: flags.minScore, concurrency: flags.concurrency });
    } catch (error) {
      if (error instanceof BackendUnavailableError) {
        io.stderr.write(`raiden: ${printable(error.message)}\n`);
        return EXIT.failure;
      }
      throw error;
    }
    await store.writeLines(
      RUN_FILES.evaluation,
      records.map((record) => JSON.stringify(record)),
    );
    const summary = summarizeEvaluation(records, flags.judgeModel, flags.minScore);
    const finishedAt = new Date();
    const wallSeconds = (finishedAt.getTime() - startedAt.getTime()) / 1000;
    const cost = costReport(await buildUsageLedger([], [], records), prices, { wallSeconds });
    const report = {
      run: flags.run,
      started_at: startedAt.toISOString(),
      finished_at: finishedAt.toISOString(),
      samples_in_run: samples.length,
      ...summary,
      judge_cost: cost,
    };
    await store.writeJson(EVALUATION_REPORT_FILE, report);
    const rows: (string | number)[][] = [
      ['metric', 'value'],
      ['judged', summary.judged],
      ['passed (score >= ' + flags.minScore + ')', summary.passed],
      ['pass rate', summary.pass_rate === null ? '—' : `${(summary.pass_rate * 100).toFixed(1)}%`],
      ['mean score', summary.mean_score ?? '—'],
      ['no verdict', summary.errors],
      ['judge cost', formatUsd(cost.total_usd)],
    ];
    for (const [model, row] of Object.entries(summary.by_model)) rows.push([`  ${model}`, `${row.passed}/${row.judged} passed`]);
    io.stdout.write(`${textTable(rows)}\n\nWritten to ${flags.run}: evaluation.jsonl, ${EVALUATION_REPORT_FILE}\n`);
    return summary.errors === records.length ? EXIT.failure : EXIT.ok;
  } finally {
    store.close();
  }
}
