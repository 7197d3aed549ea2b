import type { Language } from '../verify/language.ts';
import { ALIAS_FIELDS, NAME_FIELDS, type Profile } from './profile.ts';
import { hash32, seededRandom, shuffled } from './rng.ts';
import type { QuestionType, SampleKind } from '../verify/sample.ts';

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
  /** CM: the kind of detail the user mentions in the conversation (prompts.ts words it per language). */
  readonly topic?: CmTopic;
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

/** CM topics and the question type that asks for each. */
export const CM_TOPICS = {
  person: 'who',
  place: 'where',
  date: 'when',
  number: 'how',
  object: 'what',
  pet: 'what',
  food: 'what',
  reason: 'why',
} as const satisfies Record<string, QuestionType>;
export type CmTopic = keyof typeof CM_TOPICS;

/** What a field is about, from its label; it decides which question types suit the field. */
const FIELD_KINDS: readonly { readonly pattern: RegExp; readonly types: readonly QuestionType[] }[] = [
  {
    pattern:
      /关系|家人|家庭|亲属|亲人|父|母|妻|丈夫|儿子|女儿|朋友|好友|恋人|伴侣|搭档|同事|同桌|上司|下属|对手|敌人|兄|姐|弟|妹|师父|师傅|老师|师兄|师姐|师承|徒弟|relationship|family|friend|mentor|spouse|wife|husband|partner|brother|sister|mother|father|son|daughter|teacher|boss|rival|enemy|apprentice/iu,
    types: ['who'],
  },
  {
    pattern:
      /居住地|住址|住所|地址|家乡|故乡|籍贯|出生地|所在地|居所|地点|场所|hometown|residence|address|lives|location|birthplace|city/iu,
    types: ['where'],
  },
  { pattern: /生日|出生日期|日期|年份|纪念日|birthday|date|born|anniversary/iu, types: ['when'] },
  { pattern: /年龄|身高|体重|age|height|weight/iu, types: ['how'] },
  { pattern: /技能|能力|武功|武学|特长|绝技|必杀技|法术|skill|abilit|talent|power/iu, types: ['how', 'what'] },
  {
    pattern: /经历|背景|故事|事件|经过|情节|剧情|history|background|story|experience|event|past|biography/iu,
    types: ['what', 'why', 'how'],
  },
];
const DEFAULT_TYPES: readonly QuestionType[] = ['what'];

/** Fields never worth a question: names, aliases, gender and type labels (男/女 is a coin toss, not knowledge). */
const TRIVIAL_FIELD = /^(性别|gender|sex|角色性别|npc_type|type|物种|species|种族|角色种族|race)$/iu;

export function slotId(profileId: string, kind: SampleKind, index: number): string {
  return `${profileId}/${kind}/${index}`;
}

/** A slot with the profile it is about. */
export interface PlannedSlot {
  readonly profile: Profile;
  readonly slot: Slot;
}

/**
 * The ids of a profile's slots in plan order (planProfileSlots gives them in the same order), from its id
 * alone: a plan's slot ids are known without reading a profile.
 */
export function* planSlotIds(profileId: string, settings: Pick<PlanSettings, 'samplesPerProfile' | 'cmPerProfile'>): Generator<string> {
  for (let index = 0; index < settings.samplesPerProfile; index++) yield slotId(profileId, 'SBK', index);
  for (let index = 0; index < settings.cmPerProfile; index++) yield slotId(profileId, 'CM', index);
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
  return selectProfiles(profiles, settings.maxProfiles).flatMap((profile) => planProfileSlots(profile, settings));
}

/** The slots of one profile, in plan order: what planSlots gives it, so a plan can be derived one profile at a time. */
export function planProfileSlots(profile: Profile, settings: Omit<PlanSettings, 'maxProfiles'>): Slot[] {
  const slots: Slot[] = [];
  const language = settings.language === 'auto' ? profile.language : settings.language;
  const random = seededRandom(hash32(`${settings.seed}:${profile.id}`));
  const fields = focusFields(profile, random);
  const used = new Map<QuestionType, number>();
  const typeFor = (allowed: readonly QuestionType[]): QuestionType => {
    // The least used type that suits the field, so a profile's questions vary where its fields allow.
    const type = shuffled(allowed, random).sort((a, b) => (used.get(a) ?? 0) - (used.get(b) ?? 0))[0] ?? 'what';
    used.set(type, (used.get(type) ?? 0) + 1);
    return type;
  };
  for (let index = 0; index < settings.samplesPerProfile; index++) {
    // Past the profile's distinct fields a slot names none, so the model picks another fact instead of
    // asking about the same field again.
    const field = fields[index];
    const focus: SlotFocus = { ...(field !== undefined ? { field } : {}), questionType: typeFor(fieldQuestionTypes(field ?? '')) };
    slots.push({ id: slotId(profile.id, 'SBK', index), profileId: profile.id, kind: 'SBK', index, language, focus });
  }
  const topics = shuffled(Object.keys(CM_TOPICS) as CmTopic[], random);
  for (let index = 0; index < settings.cmPerProfile; index++) {
    const topic = topics[index % topics.length] as CmTopic;
    const focus: SlotFocus = { topic, questionType: CM_TOPICS[topic] };
    slots.push({ id: slotId(profile.id, 'CM', index), profileId: profile.id, kind: 'CM', index, language, focus });
  }
  return slots;
}

/** The question types that suit a field, from its label. */
export function fieldQuestionTypes(label: string): readonly QuestionType[] {
  return FIELD_KINDS.find((kind) => kind.pattern.test(label))?.types ?? DEFAULT_TYPES;
}

/** Whether a field can be an SBK focus: not a name, alias, gender or type, and more than one character. */
export function isFocusField(label: string, value: string): boolean {
  return !NAME_LABELS.has(label) && !TRIVIAL_FIELD.test(label.trim()) && moreThanOneCharacter(value.trim());
}

const NAME_LABELS: ReadonlySet<string> = new Set([...NAME_FIELDS, ...ALIAS_FIELDS]);

/** More than one character (code point): a field's text is asked once per profile and pass, so long ones are not spread. */
function moreThanOneCharacter(text: string): boolean {
  // Three UTF-16 units are at least two code points.
  return text.length > 2 || [...text].length > 1;
}

/**
 * Distinct fields, rich ones first (a one-word field such as species makes a trivial question), each group
 * in seeded order. A profile with nothing but trivial fields has no focus field: the model picks a fact.
 */
function focusFields(profile: Profile, random: () => number): string[] {
  const candidates = Object.keys(profile.fields).filter((key) => isFocusField(key, profile.fields[key] ?? ''));
  const rich = candidates.filter((key) => (profile.fields[key]?.length ?? 0) >= RICH_FIELD_CHARS);
  const short = candidates.filter((key) => (profile.fields[key]?.length ?? 0) < RICH_FIELD_CHARS);
  return [...shuffled(rich, random), ...shuffled(short, random)];
}

const RICH_FIELD_CHARS = 6;

export function describeFocus(focus: SlotFocus): string {
  const about = focus.field !== undefined ? `field:${focus.field}` : focus.topic !== undefined ? `topic:${focus.topic}` : 'any';
  return `${about}|${focus.questionType}`;
}
