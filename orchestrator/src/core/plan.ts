import { NAME_FIELDS, type Language, type Profile } from './profile.ts';
import { hash32, seededRandom, shuffled } from './rng.ts';
import { QUESTION_TYPES, type QuestionType, type SampleKind } from './sample.ts';

export type LanguageChoice = Language | 'auto';

export interface PlanSettings {
  readonly samplesPerProfile: number;
  readonly cmPerProfile: number;
  readonly maxProfiles?: number | undefined;
  readonly language: LanguageChoice;
  readonly seed: number;
}

/** What a slot asks the model to write about, so samples of one profile differ from each other. */
export interface SlotFocus {
  /** SBK: the profile field the question is about. */
  readonly field?: string;
  /** CM: the kind of detail the user mentions in the conversation. */
  readonly topic?: string;
  readonly questionType: QuestionType;
}

/** One sample to produce. Its id is deterministic, so a rerun finds what is already done. */
export interface Slot {
  readonly id: string;
  readonly profileId: string;
  readonly kind: SampleKind;
  readonly index: number;
  readonly language: Language;
  readonly focus: SlotFocus;
}

export const CM_TOPICS = [
  'a person the user knows (give them a distinctive full name)',
  'a place the user went to or will go to (a specific named place)',
  'a date or time the user mentions (a specific day or hour)',
  'an object the user owns, lost or bought (a specific named item)',
  'a number the user mentions (a price, a room number, an age, a count)',
  'a plan or appointment the user has (a named event)',
  "a pet or animal of the user's (give it a distinctive name)",
  'a food, dish or drink the user likes or ordered (a specific name)',
] as const;

export function slotId(profileId: string, kind: SampleKind, index: number): string {
  return `${profileId}/${kind}/${index}`;
}

export function selectProfiles(profiles: readonly Profile[], maxProfiles?: number): Profile[] {
  return maxProfiles === undefined ? [...profiles] : profiles.slice(0, maxProfiles);
}

/**
 * Every slot of every profile, grouped by profile so one profile's requests run together and share the
 * cached prompt prefix. Focus choices come from a PRNG seeded by the run seed and the profile id, so
 * adding or removing other profiles never changes a profile's plan.
 */
export function planSlots(profiles: readonly Profile[], settings: PlanSettings): Slot[] {
  const slots: Slot[] = [];
  for (const profile of selectProfiles(profiles, settings.maxProfiles)) {
    const language = settings.language === 'auto' ? profile.language : settings.language;
    const random = seededRandom(hash32(`${settings.seed}:${profile.id}`));
    const fields = focusFields(profile, random);
    const sbkTypes = shuffled(QUESTION_TYPES, random);
    for (let index = 0; index < settings.samplesPerProfile; index++) {
      const focus: SlotFocus = {
        field: fields[index % fields.length],
        questionType: sbkTypes[index % sbkTypes.length] ?? 'what',
      };
      slots.push({ id: slotId(profile.id, 'SBK', index), profileId: profile.id, kind: 'SBK', index, language, focus });
    }
    const topics = shuffled(CM_TOPICS, random);
    const cmTypes = shuffled(QUESTION_TYPES, random);
    for (let index = 0; index < settings.cmPerProfile; index++) {
      const focus: SlotFocus = {
        topic: topics[index % topics.length],
        questionType: cmTypes[index % cmTypes.length] ?? 'what',
      };
      slots.push({ id: slotId(profile.id, 'CM', index), profileId: profile.id, kind: 'CM', index, language, focus });
    }
  }
  return slots;
}

/** Rich fields first (a one-word field such as species makes a trivial question), each group in seeded order. */
function focusFields(profile: Profile, random: () => number): string[] {
  const keys = Object.keys(profile.fields).filter((key) => !(NAME_FIELDS as readonly string[]).includes(key));
  const candidates = keys.length > 0 ? keys : Object.keys(profile.fields);
  const rich = candidates.filter((key) => (profile.fields[key]?.length ?? 0) >= RICH_FIELD_CHARS);
  const short = candidates.filter((key) => (profile.fields[key]?.length ?? 0) < RICH_FIELD_CHARS);
  return [...shuffled(rich, random), ...shuffled(short, random)];
}

const RICH_FIELD_CHARS = 6;

export function describeFocus(focus: SlotFocus): string {
  return `${focus.field !== undefined ? `field:${focus.field}` : `topic:${focus.topic ?? ''}`}|${focus.questionType}`;
}
