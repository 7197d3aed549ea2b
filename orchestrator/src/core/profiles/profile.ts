import { hash32 } from './rng.ts';
import { detectLanguage, type Language } from '../verify/language.ts';
import { cjkRatio } from '../verify/text-normalize.ts';

/** One character, normalised from any input format. `text` is what prompts show and keywords are grounded in. */
export interface Profile {
  readonly id: string;
  readonly name: string;
  /** Other spellings of the character's own name (e.g. the 姓名 field when the key is a nickname). */
  readonly aliases: readonly string[];
  readonly language: Language;
  readonly fields: Readonly<Record<string, string>>;
  readonly text: string;
  /** Where it came from, e.g. `roles.jsonl:12` or `profiles.json key "老默"`. */
  readonly location: string;
}

/** A record that could not become a profile, reported with where it is and why. */
export interface InputRejection {
  readonly location: string;
  readonly reason: string;
}

/** A record as a format parser sees it: a name candidate and flat string fields, not yet validated. */
export interface RawProfileRecord {
  readonly location: string;
  readonly name: string | undefined;
  readonly fields: Record<string, string>;
  readonly invalidUtf8?: boolean;
}

/** Profiles longer than this cannot share a prompt with instructions and a conversation on a 32k context. */
export const MAX_PROFILE_CHARS = 20_000;

export const NAME_FIELDS = ['name', 'Name', 'NAME', '姓名', 'character_name', 'characterName', '名字', '中文名'] as const;

/** Fields holding other names of the character; each value may list several (老默、默哥). */
export const ALIAS_FIELDS = [
  'nickname',
  'Nickname',
  'nicknames',
  'Nicknames',
  'alias',
  'Alias',
  'aliases',
  'Aliases',
  'aka',
  'AKA',
  'English name',
  '英文名',
  '外文名',
  '本名',
  '原名',
  '昵称',
  '别称',
  '别名',
  '外号',
  '绰号',
  '江湖绰号',
  '俗名',
  '法号',
  '封号',
  '小名',
  '化名',
] as const;

/** The other names a field value lists: parenthetical remarks dropped, split on list separators. */
export function aliasesOf(value: string): string[] {
  return value
    .replace(/[（(][^）)]*[）)]/gu, '')
    .split(/[、,，;；/|]|\s+or\s+|或/u)
    .map((alias) => alias.trim())
    .filter((alias) => alias.length > 0);
}

/** Longest id in UTF-8 bytes: a file name may hold 255, and the id is one segment of longer S3 keys. */
const MAX_ID_BYTES = 96;

/**
 * The one encoding of a character's name as an id that is safe as a file name and as an S3 key segment
 * everywhere (the display name is kept as it is): NFKC; lone surrogates made well-formed (encodeURIComponent
 * throws on them); control, format and unassigned code points dropped; separators, wildcards and spaces as
 * `_`; no leading or trailing `.` or `_` (so never `.` or `..`); a long name cut with a hash of the whole.
 */
export function profileIdFromName(name: string): string {
  const id = name
    .normalize('NFKC')
    .toWellFormed()
    .replace(/[\p{Cc}\p{Cf}\p{Cn}\p{Co}\p{Cs}]/gu, '')
    .trim()
    .replace(/[\s/\\#?%*:|"<>]+/gu, '_')
    .replace(/^[._]+|[._]+$/gu, '');
  if (Buffer.byteLength(id) <= MAX_ID_BYTES) return id;
  let cut = id;
  while (Buffer.byteLength(cut) > MAX_ID_BYTES - 9) cut = cut.slice(0, -1);
  return `${cut.toWellFormed()}-${hash32(name).toString(16).padStart(8, '0')}`;
}

/** Nesting deeper than this is no character description; recursion past it would exhaust the stack. */
export const MAX_PROFILE_DEPTH = 32;

/** A record nested deeper than MAX_PROFILE_DEPTH: rejected with its location, never fatal for the file. */
export class ProfileTooDeepError extends Error {
  override readonly name = 'ProfileTooDeepError';
  constructor() {
    super(`nested deeper than ${MAX_PROFILE_DEPTH} levels: flatten the record`);
  }
}

/** Flattens any JSON value to display text: arrays joined, nested objects as `key: value` pairs. */
export function flattenValue(value: unknown, depth = 0): string {
  if (depth > MAX_PROFILE_DEPTH) throw new ProfileTooDeepError();
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value.trim();
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) {
    const parts = value.map((item) => flattenValue(item, depth + 1)).filter((part) => part.length > 0);
    const joiner = parts.some((part) => cjkRatio(part) > 0.2) ? '、' : ', ';
    return parts.join(joiner);
  }
  if (typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>)
      .map(([key, inner]) => [key, flattenValue(inner, depth + 1)] as const)
      .filter(([, inner]) => inner.length > 0)
      .map(([key, inner]) => `${key}: ${inner}`)
      .join('; ');
  }
  return '';
}

/** Turns an object's entries into flat string fields, dropping empty values. */
export function flattenFields(record: Record<string, unknown>): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [key, value] of Object.entries(record)) {
    const text = flattenValue(value);
    if (text.length > 0) fields[key.trim()] = text;
  }
  return fields;
}

export function findNameField(fields: Record<string, string>): string | undefined {
  for (const key of NAME_FIELDS) {
    const value = fields[key];
    if (value !== undefined && value.trim().length > 0) return value.trim();
  }
  return undefined;
}

export function renderProfileText(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([key, value]) => `${key}: ${value}`)
    .join('\n');
}

/**
 * Lines of `label: value` (ASCII or full-width colon, an optional trailing comma); a line without a label
 * continues the value before it, and text before the first label goes under `lead`.
 */
export function parseLabelledLines(setting: string, lead = 'description'): Record<string, string> {
  const fields: Record<string, string> = {};
  let current: string | undefined;
  for (const rawLine of setting.split(/\r?\n/u)) {
    const line = rawLine
      .trim()
      .replace(/[,，]$/u, '')
      .trim();
    if (line.length === 0) continue;
    const match = LABELLED_LINE.exec(line);
    if (match) {
      current = (match[1] ?? '').trim();
      fields[current] = fields[current] === undefined ? (match[2] ?? '').trim() : `${fields[current]} ${(match[2] ?? '').trim()}`.trim();
    } else if (current !== undefined) {
      fields[current] = `${fields[current]} ${line}`.trim();
    } else {
      fields[lead] = line;
      current = lead;
    }
  }
  for (const key of Object.keys(fields)) if (fields[key] === '') delete fields[key];
  return fields;
}

/** A label is short and has no sentence punctuation, so "他说：好" or "At 4:17 the clock stopped" are not labels. */
const LABELLED_LINE = /^([^:：,，。.!！?？;；"“”'‘’()（）\d][^:：,，。.!！?？;；"“”]{0,19})[:：]\s*(.*)$/u;

/**
 * Labelled lines anywhere in a profile become fields, in every format: a field whose value holds at least
 * one `label: value` line among several lines is split, its unlabelled lead text staying under its own key.
 */
export function expandLabelledLines(fields: Readonly<Record<string, string>>): Record<string, string> {
  const expanded: Record<string, string> = {};
  for (const [key, value] of Object.entries(fields)) {
    const lines = value.split(/\r?\n/u).filter((line) => line.trim().length > 0);
    if (lines.length < 2 || !lines.some((line) => LABELLED_LINE.test(line.trim()))) {
      expanded[key] = value;
      continue;
    }
    for (const [label, inner] of Object.entries(parseLabelledLines(value, key))) {
      const target = label !== key && (label in fields || label in expanded) ? `${key}/${label}` : label;
      expanded[target] = expanded[target] === undefined ? inner : `${expanded[target]} ${inner}`;
    }
  }
  return expanded;
}

export interface NormalizedProfiles {
  readonly profiles: Profile[];
  readonly rejected: InputRejection[];
}

/** Validates raw records into profiles: one bad record is reported and skipped, never fatal. */
export function normalizeProfiles(records: Iterable<RawProfileRecord>): NormalizedProfiles {
  const rejected: InputRejection[] = [];
  const profiles = [...normalizedProfiles(records, rejected)];
  return { profiles, rejected };
}

/**
 * normalizeProfiles one record at a time, for inputs too large to hold as profiles: each profile is made
 * when the caller reaches it, and rejections are pushed to `rejected` as they are found. `namesKnownUnique`
 * skips the duplicate check (and the memory it takes) for records an earlier read already found unique.
 */
export function* normalizedProfiles(
  records: Iterable<RawProfileRecord>,
  rejected: InputRejection[],
  namesKnownUnique = false,
): Generator<Profile> {
  const firstSeen: FirstSeen | undefined = namesKnownUnique ? undefined : new Map();
  for (const record of records) {
    const reason = rejectionReason(record, firstSeen);
    if (reason !== undefined) {
      rejected.push({ location: record.location, reason });
      continue;
    }
    const name = (record.name ?? '').trim();
    const id = profileIdFromName(name);
    firstSeen?.set(id, compactLocation(record.location));
    const fields = expandLabelledLines(record.fields);
    const text = renderProfileText(fields);
    const aliases = [
      ...NAME_FIELDS.map((key) => fields[key]?.trim() ?? ''),
      ...ALIAS_FIELDS.flatMap((key) => aliasesOf(fields[key] ?? '')),
    ].filter((alias) => alias.length > 0 && alias !== name);
    yield {
      id,
      name,
      aliases: [...new Set(aliases)],
      language: detectLanguage(text),
      fields,
      text,
      location: record.location,
    };
  }
}

/**
 * Where each name was first seen. A location `file:line` is kept as its line number: with a million
 * profiles the location strings would be most of what reading them holds.
 */
type FirstSeen = Map<string, string | number>;

function compactLocation(location: string): string | number {
  const colon = location.lastIndexOf(':');
  const line = Number(location.slice(colon + 1));
  return colon > 0 && Number.isSafeInteger(line) && `${location.slice(0, colon)}:${line}` === location ? line : location;
}

/** A location firstSeen holds, in full: a line number is in the file of the record that asks. */
function fullLocation(stored: string | number, asking: string): string {
  return typeof stored === 'number' ? `${asking.slice(0, asking.lastIndexOf(':'))}:${stored}` : stored;
}

function rejectionReason(record: RawProfileRecord, firstSeen: FirstSeen | undefined): string | undefined {
  if (record.invalidUtf8) {
    return 'contains bytes that are not valid UTF-8: re-save the file as UTF-8';
  }
  const name = record.name?.trim() ?? '';
  if (name.length === 0) {
    return `no character name: add one of the fields ${NAME_FIELDS.slice(0, 5).join(', ')}`;
  }
  const id = profileIdFromName(name);
  if (id.length === 0) return `name ${JSON.stringify(name)} has no usable characters: give the character a real name`;
  const described = Object.entries(record.fields).filter(
    ([key, value]) => !(NAME_FIELDS as readonly string[]).includes(key) && value.trim().length > 0,
  );
  if (described.length === 0) {
    return `profile of ${JSON.stringify(name)} has no usable text besides its name: add descriptive fields`;
  }
  const length = renderProfileText(record.fields).length;
  if (length > MAX_PROFILE_CHARS) {
    return `profile of ${JSON.stringify(name)} is ${length.toLocaleString('en-US')} characters; the limit is ${MAX_PROFILE_CHARS.toLocaleString('en-US')} so it fits in a prompt: shorten it`;
  }
  const first = firstSeen?.get(id);
  if (first !== undefined) {
    return `duplicate character name ${JSON.stringify(name)} (first seen at ${fullLocation(first, record.location)}): rename or remove one`;
  }
  return undefined;
}
