/** profiles.jsonl: one line per planned profile, with the text its prompts show and the language they use. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RUN_FILES } from '../../orchestrator/src/contract/run-layout.ts';
import { writeProfileTable, type ProfileRecord } from '../../orchestrator/src/core/export/profile-table.ts';
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
