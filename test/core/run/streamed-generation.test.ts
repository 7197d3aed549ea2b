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

describe('a generating run streams its profiles', () => {
  it('reads the profile file no further ahead of the slots it generates than its workers reach, and fills every slot', async () => {
    // One line per chunk, counted per pass over the file: how far the current pass has read.
    let read = 0;
    const bytes = function* () {
      read = 0;
      for (const profile of eachSyntheticProfile(PROFILES)) {
        read++;
        yield encoder.encode(`${JSON.stringify(profile)}\n`);
      }
    };
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
});
