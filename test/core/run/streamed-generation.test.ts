import { describe, expect, it } from 'vitest';
import type { BackendFactory, BackendSpec } from '../../../orchestrator/src/core/ports/backend-factory.ts';
import type { LlmBackend } from '../../../orchestrator/src/core/ports/llm-backend.ts';
import { prepareRun } from '../../../orchestrator/src/core/run/prepare-run.ts';
import { parseRunSpec } from '../../../orchestrator/src/core/run/run-spec.ts';
import { generateAndFinish } from '../../../bench/support/local-run.ts';
import { eachSyntheticProfile } from '../../../bench/support/synthetic-profiles.ts';
import { MemoryRunStore } from '../../support/memory-run-store.ts';
import { scriptedBackend } from '../../support/scripted-backend.ts';
import { connectTestBackends } from '../../support/test-backends.ts';

const PROFILES = 300;
const CONCURRENCY = 4;
const encoder = new TextEncoder();

/** A JSONL input of `count` synthetic profiles, one line per chunk; `onChunk` sees each chunk's place in its pass. */
function profileBytes(count: number, onChunk: (index: number) => void = () => undefined) {
  return function* () {
    let index = 0;
    for (const profile of eachSyntheticProfile(count)) {
      onChunk(index++);
      yield encoder.encode(`${JSON.stringify(profile)}\n`);
    }
  };
}

describe('a generating run on this machine', () => {
  it('streams its profiles: reads the profile file no further ahead of the slots it generates than its workers reach, and fills every slot', async () => {
    // Counted per pass over the file: how far the current pass has read.
    let read = 0;
    const bytes = profileBytes(PROFILES, (index) => (read = index + 1));
    const spec = parseRunSpec({
      profiles: 'characters.jsonl',
      endpoints: ['http://127.0.0.1:1'],
      includeCm: true,
      concurrency: CONCURRENCY,
    });
    const prepared = prepareRun(spec, { bytes, location: 'characters.jsonl' }, { startedAt: new Date(0) });
    let lead = 0;
    let calls = 0;
    const create: BackendFactory = async (backendSpec: BackendSpec) => {
      const scripted = scriptedBackend({ name: backendSpec.kind });
      const counted: LlmBackend = {
        ...scripted,
        generate(request) {
          const asked = /Character (\d{5})/u.exec(request.messages.map((message) => message.content).join('\n'));
          if (asked === null) throw new Error('a sample request without a character in its prompt');
          // Profiles read by this pass past the one this request is about.
          lead = Math.max(lead, read - 1 - Number(asked[1]));
          calls++;
          return scripted.generate(request);
        },
      };
      return counted;
    };
    const backends = await connectTestBackends(prepared, { create, gates: false });
    const store = new MemoryRunStore();

    const { counters, report } = await generateAndFinish({ prepared, store, backends, concurrency: CONCURRENCY });

    expect(counters.accepted).toBe(prepared.plan.slots.total);
    expect(report.samples.empty_slots).toBe(0);
    expect(calls).toBeGreaterThanOrEqual(prepared.plan.slots.total);
    // The workers (2 per request in flight) hold at most one profile each, and the stream reads one slot ahead.
    expect(lead, `profiles read ahead of the slot being generated, of ${PROFILES}`).toBeLessThanOrEqual(2 * CONCURRENCY + 1);
  });

  it('stops a run as raiden generate does: interrupted only when the stop came before the end', async () => {
    const run = async (stopAfter: number) => {
      const spec = parseRunSpec({ profiles: 'c.jsonl', endpoints: ['http://127.0.0.1:1'], includeCm: true, concurrency: 2 });
      const prepared = prepareRun(spec, { bytes: profileBytes(20), location: 'c.jsonl' }, { startedAt: new Date(0) });
      const create: BackendFactory = async (backendSpec: BackendSpec) => scriptedBackend({ name: backendSpec.kind });
      const backends = await connectTestBackends(prepared, { create, gates: false });
      return generateAndFinish({ prepared, store: new MemoryRunStore(), backends, concurrency: 2, stopAfter });
    };
    const through = await run(1000);
    expect(through.report.status, 'a stop that never came').toBe('complete');
    expect(through.stoppedReason).toBeUndefined();
    const stopped = await run(10);
    expect(stopped.report.status).toBe('stopped');
    expect(stopped.stoppedReason).toBe('interrupted');
    // The workers already at a slot finish it: at most 2 per request in flight past the stop.
    expect(stopped.counters.accepted).toBeGreaterThanOrEqual(10);
    expect(stopped.counters.accepted).toBeLessThanOrEqual(10 + 2 * 2);
  });
});
