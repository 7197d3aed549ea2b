/** profiles.jsonl: one line per planned profile, with the text its prompts show and the language they use. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RUN_FILES } from '../../orchestrator/src/contract/run-layout.ts';
import { ProfileWindow, writeProfileTable, type ProfileRecord } from '../../orchestrator/src/core/export/profile-table.ts';
import { seededRandom, shuffled } from '../../orchestrator/src/core/profiles/rng.ts';
import { prepareRun } from '../../orchestrator/src/core/run/prepare-run.ts';
import { buildMessages } from '../../orchestrator/src/core/prompts/prompts.ts';
import { parseRunSpec } from '../../orchestrator/src/core/run/run-spec.ts';
import { MemoryRunStore } from '../support/memory-run-store.ts';
import { CHARACTEREVAL_PROFILES } from '../support/run-cli.ts';

function tableOf(spec: Record<string, unknown>) {
  const prepared = prepareRun(
    parseRunSpec({ profiles: CHARACTEREVAL_PROFILES, ...spec }),
    { bytes: readFileSync(CHARACTEREVAL_PROFILES), location: CHARACTEREVAL_PROFILES },
    { startedAt: new Date('2026-01-01T00:00:00Z') },
  );
  const store = new MemoryRunStore();
  return { prepared, store, write: () => writeProfileTable(store, prepared) };
}

describe('the profile table', () => {
  it('holds each planned profile once, with the exact text the generation prompt shows', async () => {
    const { prepared, store, write } = tableOf({ maxProfiles: 5 });
    await write();
    const records = (store.files.get(RUN_FILES.profiles) as string[]).map((line) => JSON.parse(line) as ProfileRecord);
    expect(prepared.plan.input.usable).toBeGreaterThan(5);
    expect(records.map((record) => record.id)).toEqual(prepared.plan.profileIds);
    for (const record of records) {
      const slot = prepared.slots.find((candidate) => candidate.profileId === record.id);
      const profile = prepared.profiles.get(record.id);
      expect(Object.keys(record).sort()).toEqual(['id', 'language', 'name', 'text']);
      expect(record).toMatchObject({ name: profile?.name, language: slot?.language });
      expect(buildMessages(profile!, slot!)[1]?.content).toContain(`<character_profile>\n${record.text}\n</character_profile>`);
    }
  });

  it("streams from the plan's slots, never asking for the map of every profile", async () => {
    const { prepared, store } = tableOf({ maxProfiles: 5 });
    const streaming = {
      plan: prepared.plan,
      plannedSlots: () => prepared.plannedSlots(),
      get profiles(): never {
        throw new Error('the profile table built the map of every profile');
      },
    };
    await writeProfileTable(store, streaming);
    const records = (store.files.get(RUN_FILES.profiles) as string[]).map((line) => JSON.parse(line) as ProfileRecord);
    expect(records.map((record) => record.id)).toEqual(prepared.plan.profileIds);
  });

  it('records the language the run forced, since the prompts used it', async () => {
    const { store, write } = tableOf({ maxProfiles: 2, language: 'en' });
    await write();
    const records = (store.files.get(RUN_FILES.profiles) as string[]).map((line) => JSON.parse(line) as ProfileRecord);
    expect(records.map((record) => record.language)).toEqual(['en', 'en']);
  });
});

describe('the profile table read through a bounded window', () => {
  /** A table of `count` profiles of 100 characters of text, opened anew at each pass; counts the lines read. */
  function table(count: number) {
    const records = Array.from({ length: count }, (_, index) => ({
      id: `p${String(index).padStart(4, '0')}`,
      name: `Character ${index}`,
      language: 'en' as const,
      text: `${index} `.padEnd(100, 'x'),
    }));
    let linesRead = 0;
    const open = async () =>
      (async function* () {
        for (const record of records) {
          linesRead++;
          yield JSON.stringify(record);
        }
      })();
    // A budget of ten profiles' text.
    const window = () => ProfileWindow.open(open, (line) => JSON.parse(line) as ProfileRecord, 1_000);
    return { records, window, linesRead: () => linesRead };
  }

  it('reads the table once for lookups in its order, holding only the last profiles read', async () => {
    const { records, window, linesRead } = table(1_000);
    const profiles = (await window()) as ProfileWindow;
    for (const record of records) expect(await profiles.get(record.id)).toEqual(record);
    expect(profiles.passes).toBe(1);
    expect(linesRead()).toBe(1_000);
    // The ten last ones are held; the first was let go and costs a second pass, which reads up to it only.
    expect(await profiles.get('p0990')).toEqual(records[990]);
    expect(linesRead()).toBe(1_000);
    expect(await profiles.get('p0000')).toEqual(records[0]);
    expect(profiles.passes).toBe(2);
    expect(linesRead()).toBe(1_001);
  });

  it('finds every profile in any order, and remembers one the table lacks', async () => {
    const { records, window } = table(300);
    const profiles = (await window()) as ProfileWindow;
    for (const record of shuffled(records, seededRandom(3))) expect(await profiles.get(record.id)).toEqual(record);
    expect(await profiles.get('nobody')).toBeUndefined();
    const passes = profiles.passes;
    expect(await profiles.get('nobody')).toBeUndefined();
    expect(profiles.passes).toBe(passes);
  });

  it('is undefined for a run without a table', async () => {
    expect(
      await ProfileWindow.open(
        async () => undefined,
        (line) => JSON.parse(line) as ProfileRecord,
      ),
    ).toBeUndefined();
  });
});
