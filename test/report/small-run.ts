/**
 * A real small run into a local run directory, the way `raiden generate` will run it with the event log:
 * prepare, connect scripted backends, every phase through a RunEventLog over a LocalRunStore, finish, then
 * report.html. The filter strategy gives both backends (SGLang candidates, a Bedrock judge), review calls
 * and rejects of several reasons; a stepping clock fixes every time.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_PRICES } from '../../orchestrator/src/core/report/model-prices.ts';
import type { BackendFactory } from '../../orchestrator/src/core/ports/backend-factory.ts';
import type { LlmBackend } from '../../orchestrator/src/core/ports/llm-backend.ts';
import { prepareRun } from '../../orchestrator/src/core/run/prepare-run.ts';
import { writeReportHtml } from '../../orchestrator/src/core/report/report-html.ts';
import { RunEventLog } from '../../orchestrator/src/core/report/run-events.ts';
import type { FinishedRun } from '../../orchestrator/src/core/run/run-pipeline.ts';
import { parseRunSpec } from '../../orchestrator/src/core/run/run-spec.ts';
import { LocalRunStore } from '../../orchestrator/src/store/local-run-store.ts';
import { generateAndFinish, generateLocally } from '../../bench/support/local-run.ts';
import { CHARACTEREVAL_PROFILES } from '../support/run-cli.ts';
import { scriptedBackend } from '../support/scripted-backend.ts';
import { connectTestBackends } from '../support/test-backends.ts';

export interface SmallRunOptions {
  readonly directory: string;
  readonly clock: () => Date;
  readonly writer: string;
  /** Stop taking slots once this invocation accepted this many (a run interrupted, then resumed). */
  readonly stopAfter?: number;
  /** Leave without logging the end or writing report.json and report.html, as a killed process does. */
  readonly killed?: boolean;
  /**
   * The demo's shape: one profile (six slots) on one SGLang model whose every answer is good, so nothing is
   * rejected, no judge is called and every count is small.
   */
  readonly plain?: boolean;
}

export interface SmallRun {
  readonly finished?: FinishedRun;
  readonly htmlBytes?: number;
}

/** Every 4th SGLang candidate is ungrounded and every 9th malformed; the judge scores 6, 9, 8 in turn. */
const flaw = (n: number) => (n % 9 === 0 ? ('malformed_content' as const) : n % 4 === 0 ? ('ungrounded' as const) : undefined);
const scores = [6, 9, 8];

export async function smallRun(options: SmallRunOptions): Promise<SmallRun> {
  const profiles = CHARACTEREVAL_PROFILES;
  const spec = parseRunSpec({
    profiles,
    ...(options.plain ? { strategy: 'sglang' } : { strategy: 'filter', candidates: 2, minScore: 7 }),
    samplesPerProfile: 4,
    cmPerProfile: 2,
    maxProfiles: options.plain ? 1 : 6,
  });
  const now = options.clock;
  const prepared = prepareRun(spec, { bytes: readFileSync(profiles), location: profiles }, { startedAt: now() });
  const local = await LocalRunStore.open(options.directory);
  const store = new RunEventLog(local, { now, writer: options.writer, startedAt: new Date(prepared.plan.startedAt) });
  try {
    await store.prepareAppends();
    let inFlight = 0;
    // Scripted backends answer at once; counting around each call still gives the log real readings.
    const counted = (backend: LlmBackend): LlmBackend => ({
      ...backend,
      inFlight: () => inFlight,
      async generate(request) {
        inFlight++;
        await store.sample(inFlight);
        try {
          return await backend.generate(request);
        } finally {
          inFlight--;
        }
      },
    });
    const create: BackendFactory = async (backendSpec) =>
      counted(
        backendSpec.kind === 'sglang'
          ? scriptedBackend({ name: 'sglang', model: 'qwen-sim', ...(options.plain ? {} : { flaw }) })
          : scriptedBackend({ name: 'bedrock', model: backendSpec.modelId, judgeScore: (n) => scores[(n - 1) % 3] ?? 1 }),
      );
    const backends = await connectTestBackends(prepared, { create });
    const run = { prepared, store, backends, concurrency: 4, now, stopAfter: options.stopAfter };
    if (options.killed) {
      await generateLocally(run);
      return {};
    }
    const { report, dataset } = await generateAndFinish(run);
    const finished: FinishedRun = { report, dataset };
    await store.finish();
    const htmlBytes = await writeReportHtml(store, { prices: DEFAULT_PRICES });
    return { finished, htmlBytes };
  } finally {
    local.close();
  }
}
