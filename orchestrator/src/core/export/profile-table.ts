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

/**
 * The planned profiles' records, in plan order, streamed from the plan's slots (a profile's slots are
 * contiguous and every planned profile has some): the table of a million profiles is never held.
 */
export function* profileRecords(prepared: Pick<PreparedRun, 'plan' | 'plannedSlots'>): Generator<ProfileRecord> {
  const forced = prepared.plan.spec.language;
  let last: string | undefined;
  for (const { profile } of prepared.plannedSlots()) {
    if (profile.id === last) continue;
    last = profile.id;
    yield { id: profile.id, name: profile.name, language: forced === 'auto' ? profile.language : forced, text: profile.text };
  }
}

/** Writes profiles.jsonl for a prepared run; call it once the run is claimed, before the first sample. */
export async function writeProfileTable(
  store: Pick<RunStore, 'writeLines'>,
  prepared: Pick<PreparedRun, 'plan' | 'plannedSlots'>,
): Promise<void> {
  await store.writeLines(
    RUN_FILES.profiles,
    (function* () {
      for (const record of profileRecords(prepared)) yield JSON.stringify(record);
    })(),
  );
}
