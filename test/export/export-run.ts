/**
 * A real run into a local run directory, as `raiden generate` makes it (prepare, claim, profile table,
 * every phase, finish), on a scripted SGLang backend that writes the simulated role model's samples.
 * `withProfileTable: false` leaves out profiles.jsonl, as runs written before the table existed.
 */
import { readFileSync } from 'node:fs';
import { writeProfileTable } from '../../orchestrator/src/core/export/profile-table.ts';
import { claimPreparedRun, prepareRun, type PreparedRun } from '../../orchestrator/src/core/run/prepare-run.ts';
import { parseRunSpec } from '../../orchestrator/src/core/run/run-spec.ts';
import { LocalRunStore } from '../../orchestrator/src/store/local-run-store.ts';
import { steppingClock } from '../pipeline/run-in-process.ts';
import { generateAndFinish } from '../../bench/support/local-run.ts';
import { scriptedBackend } from '../support/scripted-backend.ts';
import { connectTestBackends } from '../support/test-backends.ts';

export interface ExportRunOptions {
  readonly directory: string;
  readonly profiles: string;
  readonly samplesPerProfile?: number;
  readonly cmPerProfile?: number;
  readonly validationRatio?: number;
  readonly withProfileTable?: boolean;
}

export async function makeRun(options: ExportRunOptions): Promise<PreparedRun> {
  const spec = parseRunSpec({
    profiles: options.profiles,
    samplesPerProfile: options.samplesPerProfile ?? 2,
    cmPerProfile: options.cmPerProfile ?? 1,
    validationRatio: options.validationRatio ?? 0.3,
  });
  const now = steppingClock();
  const prepared = prepareRun(spec, { bytes: readFileSync(options.profiles), location: options.profiles }, { startedAt: now() });
  const store = await LocalRunStore.open(options.directory);
  try {
    await claimPreparedRun(store, prepared);
    if (options.withProfileTable ?? true) await writeProfileTable(store, prepared);
    await store.prepareAppends();
    const backends = await connectTestBackends(prepared, {
      create: async () => scriptedBackend({ name: 'sglang', model: 'qwen-sim' }),
      gates: false,
    });
    await generateAndFinish({ prepared, store, backends, concurrency: 4, now });
    return prepared;
  } finally {
    store.close();
  }
}
