/** A resume continues the same plan: what decides slots, splits and partitions may not change under it. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimPreparedRun, prepareRun } from '../../orchestrator/src/core/run/prepare-run.ts';
import { renderProblems, RunSpecError, parseRunSpec } from '../../orchestrator/src/core/run/run-spec.ts';
import { flagOf } from '../../orchestrator/src/cli/run-spec-flags.ts';
import { MemoryRunStore } from '../support/memory-run-store.ts';
import { ROOT } from '../support/run-cli.ts';

// Read as charactereval or npc-json alike: a format change gives other fields, not an error.
const FILE = join(ROOT, 'examples/npc.json');

function prepared(fields: Record<string, unknown>) {
  const spec = parseRunSpec({ profiles: FILE, ...fields });
  return prepareRun(spec, { bytes: readFileSync(FILE), location: FILE }, { startedAt: new Date('2026-01-01T00:00:00Z'), runId: 'r1' });
}

async function refusal(first: Record<string, unknown>, second: Record<string, unknown>): Promise<string> {
  const store = new MemoryRunStore();
  await claimPreparedRun(store, prepared(first));
  try {
    await claimPreparedRun(store, prepared(second));
  } catch (error) {
    if (error instanceof RunSpecError) return renderProblems(error.problems, flagOf);
    throw error;
  }
  return '';
}

describe('resuming a run', () => {
  it('goes on with the same settings', async () => {
    expect(await refusal({ strategy: 'iterative' }, { strategy: 'iterative' })).toBe('');
  });

  it.each([
    [
      { format: 'npc-json' },
      { format: 'charactereval' },
      /--format: the run read the profiles as npc-json, this run reads them as charactereval/u,
    ],
    [{ validationRatio: 0.1 }, { validationRatio: 0.5 }, /--validation-ratio: the run used 0\.\d+, this run asks for 0\.5/u],
    [
      { strategy: 'iterative', seedProfiles: 1 },
      { strategy: 'iterative', seedProfiles: 2 },
      /--seed-profiles: the run used 1, this run asks for 2/u,
    ],
    [
      { seedData: 'a/samples.jsonl' },
      { seedData: 'b/samples.jsonl' },
      /--seed-data: the run used a\/samples\.jsonl, this run asks for b\/samples\.jsonl/u,
    ],
    [{ samplesPerProfile: 2 }, { samplesPerProfile: 3 }, /--samples-per-profile: the run used 2, this run asks for 3/u],
  ])('refuses a change of %j to %j, naming the field', async (first, second, message) => {
    expect(await refusal(first, second)).toMatch(message);
  });

  it('compares a run made before partitions were recorded on what it recorded', async () => {
    const store = new MemoryRunStore();
    const old = prepared({});
    const { partitions: _dropped, ...manifest } = old.manifest;
    await store.writeJson('run.json', manifest);
    await expect(claimPreparedRun(store, prepared({ validationRatio: 0.5 }))).resolves.toBeUndefined();
  });
});
