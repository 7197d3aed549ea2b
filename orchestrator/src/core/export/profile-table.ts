/**
 * The run's profile table (profiles.jsonl): each planned profile with the text its prompts showed, so a
 * trainer's prompt holds the profile exactly as the generator saw it. Samples keep only the parsed fields.
 */
import { RUN_FILES } from '../../contract/run-layout.ts';
import type { RunStore } from '../ports/run-store.ts';
import type { PreparedRun } from '../run/prepare-run.ts';
import type { Language } from '../verify/language.ts';

export interface ProfileRecord {
  readonly id: string;
  readonly name: string;
  /** The language the run's prompts used for this profile (the profile's own unless the run forced one). */
  readonly language: Language;
  readonly text: string;
}

export function profileRecords(prepared: PreparedRun): ProfileRecord[] {
  const forced = prepared.plan.spec.language;
  return prepared.plan.profileIds.flatMap((id) => {
    const profile = prepared.profiles.get(id);
    if (profile === undefined) return [];
    return [{ id, name: profile.name, language: forced === 'auto' ? profile.language : forced, text: profile.text }];
  });
}

/** Writes profiles.jsonl for a prepared run; call it once the run is claimed, before the first sample. */
export async function writeProfileTable(store: Pick<RunStore, 'writeLines'>, prepared: PreparedRun): Promise<void> {
  await store.writeLines(
    RUN_FILES.profiles,
    profileRecords(prepared).map((record) => JSON.stringify(record)),
  );
}
