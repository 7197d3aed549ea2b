import {
  findNameField,
  flattenFields,
  flattenValue,
  parseLabelledLines,
  ProfileTooDeepError,
  type InputRejection,
  type RawProfileRecord,
} from './profile.ts';

export { parseLabelledLines };

export const PROFILE_FORMATS = ['raiden-jsonl', 'npc-json', 'charactereval', 'generic'] as const;
export type ProfileFormat = (typeof PROFILE_FORMATS)[number];

/** The file as a whole cannot be read as profiles; the message says what to do. */
export class ProfileFormatError extends Error {
  override readonly name = 'ProfileFormatError';
}

export interface ParsedProfileSource {
  readonly format: ProfileFormat;
  readonly records: RawProfileRecord[];
  readonly rejected: InputRejection[];
}

const REPLACEMENT_CHAR = '\uFFFD';

/**
 * Reads profile records out of decoded file text. `hadInvalidUtf8` marks that the decoder replaced bytes,
 * so records holding a replacement character are rejected instead of being used with garbled text.
 */
export function parseProfileSource(text: string, file: string, format?: ProfileFormat, hadInvalidUtf8 = false): ParsedProfileSource {
  const source = text.replace(/^\uFEFF/u, '');
  const whole = parseWholeJson(source);
  const detected = format ?? detectFormat(source, whole, file);
  const records: RawProfileRecord[] = [];
  const rejected: InputRejection[] = [];
  const corrupt = (raw: string): boolean => hadInvalidUtf8 && raw.includes(REPLACEMENT_CHAR);

  if (detected === 'raiden-jsonl' || (detected === 'generic' && !whole.ok)) {
    forEachJsonLine(source, file, rejected, (value, location, raw) => {
      const record = detected === 'raiden-jsonl' ? raidenRecord(value, location) : genericRecord(value, location);
      if (typeof record === 'string') rejected.push({ location, reason: record });
      else records.push({ ...record, invalidUtf8: corrupt(raw) });
    });
    return { format: detected, records, rejected };
  }

  if (!whole.ok) {
    throw new ProfileFormatError(
      `${file} is not valid JSON (${describeJsonError(source, whole.error)}): fix the syntax there, or pass {format} raiden-jsonl or {format} generic for JSONL`,
    );
  }
  const entries = topLevelEntries(whole.value, file, detected);
  for (const { location, name, value } of entries) {
    const record =
      detected === 'npc-json'
        ? npcRecord(name, value, location)
        : detected === 'charactereval'
          ? keyedRecord(name, value, location)
          : genericRecord(value, location);
    if (typeof record === 'string') rejected.push({ location, reason: record });
    else records.push({ ...record, invalidUtf8: corrupt(JSON.stringify(value) + (name ?? '')) });
  }
  return { format: detected, records, rejected };
}

/**
 * The JSONL format parseProfileSource would read a file as, told from the file's first bytes, so a large
 * JSONL file can be read line by line (jsonLineRecords) instead of decoded whole; undefined when the head
 * does not prove the file is JSONL (a JSON document, or one line only), and the file is parsed whole.
 * Proof: the first line is a whole object by itself and another line follows it, so the file as a whole is
 * not one JSON value; the first line then decides the format, as in parseProfileSource.
 */
export function jsonLinesFormat(head: Uint8Array, format?: ProfileFormat): 'raiden-jsonl' | 'generic' | undefined {
  if (format !== undefined && format !== 'raiden-jsonl' && format !== 'generic') return undefined;
  const text = new TextDecoder('utf-8').decode(head.subarray(0, head.lastIndexOf(0x0a) + 1)).replace(/^\uFEFF/u, '');
  const lines = text.split('\n').filter((line) => line.trim().length > 0);
  if (lines.length < 2) return undefined;
  const first = parseWholeJson((lines[0] ?? '').trim());
  if (!first.ok || !isObject(first.value)) return undefined;
  if (format !== undefined) return format;
  return typeof first.value.prompt === 'string' && /<Character Setting>/iu.test(first.value.prompt) ? 'raiden-jsonl' : 'generic';
}

/**
 * The records of a JSONL file, one line decoded and parsed at a time, as parseProfileSource reads them:
 * same locations, records and reasons (a line with bytes that are not UTF-8 is refused on its own). The
 * file comes in chunks of any size, so it need not be held whole. Rejections are pushed to `rejected` as
 * they are found.
 */
export function* jsonLineRecords(
  chunks: Iterable<Uint8Array>,
  file: string,
  format: 'raiden-jsonl' | 'generic',
  rejected: InputRejection[],
): Generator<RawProfileRecord> {
  const strict = new TextDecoder('utf-8', { fatal: true });
  const lenient = new TextDecoder('utf-8');
  let index = 0;
  function* lineRecord(line: Uint8Array): Generator<RawProfileRecord> {
    index++;
    let raw: string;
    let invalidUtf8 = false;
    try {
      raw = strict.decode(line);
    } catch {
      raw = lenient.decode(line);
      invalidUtf8 = raw.includes(REPLACEMENT_CHAR);
    }
    raw = raw.trim();
    if (raw.length === 0) return;
    const location = `${file}:${index}`;
    const parsed = parseWholeJson(raw);
    if (!parsed.ok) {
      rejected.push({ location, reason: `malformed JSON line (${parsed.error})` });
      return;
    }
    const record = format === 'raiden-jsonl' ? raidenRecord(parsed.value, location) : genericRecord(parsed.value, location);
    if (typeof record === 'string') rejected.push({ location, reason: record });
    else yield { ...record, invalidUtf8 };
  }
  // A line cut by a chunk's end is carried, as a copy, into the next chunk.
  let carried = new Uint8Array(0);
  for (const chunk of chunks) {
    const data = carried.length === 0 ? chunk : Buffer.concat([carried, chunk]);
    let start = 0;
    for (let newline = data.indexOf(0x0a); newline >= 0; newline = data.indexOf(0x0a, start)) {
      yield* lineRecord(data.subarray(start, newline));
      start = newline + 1;
    }
    carried = new Uint8Array(data.subarray(start));
  }
  if (carried.length > 0) yield* lineRecord(carried);
}

type WholeJson = { ok: true; value: unknown } | { ok: false; error: string };

function parseWholeJson(source: string): WholeJson {
  try {
    return { ok: true, value: JSON.parse(source) };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

/**
 * Why a whole JSON document does not parse, with the line and column of the first bad character. V8's
 * message gives a position for some errors only ("Unexpected token" quotes a snippet instead), so the
 * place comes from a scan of the JSON grammar and V8's message supplies only what is wrong there.
 */
function describeJsonError(source: string, error: string): string {
  const what = error
    .replace(/ in JSON at position \d+[\s\S]*$/u, '')
    .replace(/, [\s\S]* is not valid JSON$/u, '')
    .replace(/^SyntaxError: /u, '');
  const offset = firstJsonErrorOffset(source);
  if (offset === undefined) return what;
  const before = source.slice(0, offset).split('\n');
  return `line ${before.length} column ${(before.at(-1) ?? '').length + 1}: ${what}`;
}

const JSON_LITERAL = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/uy;
// eslint-disable-next-line no-control-regex -- JSON forbids raw control characters inside a string
const JSON_STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/uy;

/** Offset of the first character where `source` stops being JSON; undefined when it is JSON (or nests too deep to scan). */
function firstJsonErrorOffset(source: string): number | undefined {
  let at = 0;
  const skipSpace = (): void => {
    while (at < source.length && ' \t\n\r'.includes(source[at] ?? '')) at++;
  };
  const token = (pattern: RegExp): boolean => {
    pattern.lastIndex = at;
    const match = pattern.exec(source);
    if (match) at += match[0].length;
    return match !== null;
  };
  const expect = (char: string): boolean => {
    skipSpace();
    if (source[at] !== char) return false;
    at++;
    return true;
  };
  const list = (close: string, item: () => boolean): boolean => {
    if (expect(close)) return true;
    for (;;) {
      if (!item()) return false;
      if (expect(close)) return true;
      if (!expect(',')) return false;
    }
  };
  const member = (): boolean => {
    skipSpace();
    return token(JSON_STRING) && expect(':') && value();
  };
  const value = (): boolean => {
    skipSpace();
    if (expect('{')) return list('}', member);
    if (expect('[')) return list(']', value);
    return token(source[at] === '"' ? JSON_STRING : JSON_LITERAL);
  };
  try {
    if (value()) {
      skipSpace();
      if (at === source.length) return undefined;
    }
  } catch (error) {
    if (error instanceof RangeError) return undefined;
    throw error;
  }
  return at;
}

function detectFormat(source: string, whole: WholeJson, file: string): ProfileFormat {
  const first = source.trimStart()[0];
  if (whole.ok) {
    const value = whole.value;
    if (Array.isArray(value)) return 'generic';
    if (isObject(value)) {
      const values = Object.values(value);
      if (values.length > 0 && values.every(isObject)) {
        return values.some((inner) => 'npc_setting' in inner) ? 'npc-json' : 'charactereval';
      }
      if (nameIn(value) !== undefined) return 'generic';
    }
    throw new ProfileFormatError(
      `${file}: cannot tell the profile format (a JSON ${Array.isArray(value) ? 'array' : typeof value} that matches none of the known shapes); pass {format} ${PROFILE_FORMATS.join('|')}`,
    );
  }
  if (first === '{') {
    const lines = source.split('\n').filter((line) => line.trim().length > 0);
    // A JSONL record is a whole object on one line, so a first line of a bare "{" (pretty-printed JSON)
    // or no line that parses on its own means one JSON document with a syntax error, not 35 bad records.
    if (lines[0]?.trim() !== '{') {
      for (const line of lines.slice(0, 50)) {
        const parsed = parseWholeJson(line.trim());
        if (parsed.ok && isObject(parsed.value)) {
          return typeof parsed.value.prompt === 'string' && /<Character Setting>/iu.test(parsed.value.prompt) ? 'raiden-jsonl' : 'generic';
        }
      }
    }
    throw new ProfileFormatError(
      `${file} is not valid JSON (${describeJsonError(source, whole.error)}): fix the syntax there, or pass {format} generic if it is JSONL`,
    );
  }
  if (first === '[') {
    throw new ProfileFormatError(`${file} is not valid JSON (${describeJsonError(source, whole.error)}): fix the syntax there`);
  }
  throw new ProfileFormatError(
    `${file}: unknown profile format (expected JSON or JSONL); supported formats: ${PROFILE_FORMATS.join(', ')}; pass {format} to choose one`,
  );
}

function forEachJsonLine(
  source: string,
  file: string,
  rejected: InputRejection[],
  visit: (value: unknown, location: string, raw: string) => void,
): void {
  const lines = source.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const raw = (lines[index] ?? '').trim();
    if (raw.length === 0) continue;
    const location = `${file}:${index + 1}`;
    const parsed = parseWholeJson(raw);
    if (!parsed.ok) {
      rejected.push({ location, reason: `malformed JSON line (${parsed.error})` });
      continue;
    }
    visit(parsed.value, location, raw);
  }
}

interface TopLevelEntry {
  readonly location: string;
  readonly name: string | undefined;
  readonly value: unknown;
}

function topLevelEntries(value: unknown, file: string, format: ProfileFormat): TopLevelEntry[] {
  if (Array.isArray(value)) {
    return value.map((item, index) => ({ location: `${file}[${index}]`, name: undefined, value: item }));
  }
  if (!isObject(value)) throw new ProfileFormatError(`${file}: expected a JSON object or array of profiles`);
  if (format === 'generic' && nameIn(value) !== undefined) {
    return [{ location: file, name: undefined, value }];
  }
  return Object.entries(value).map(([key, inner]) => ({ location: `${file} key ${JSON.stringify(key)}`, name: key, value: inner }));
}

type RecordOrReason = Omit<RawProfileRecord, 'invalidUtf8'> | string;

function genericRecord(value: unknown, location: string): RecordOrReason {
  if (!isObject(value)) return `expected a JSON object with a name field, got ${describe(value)}`;
  const fields = flattenOrReason(value);
  if (typeof fields === 'string') return fields;
  return { location, name: findNameField(fields), fields };
}

/** The record's fields, or why they cannot be read (too deep). */
function flattenOrReason(value: Record<string, unknown>): Record<string, string> | string {
  try {
    return flattenFields(value);
  } catch (error) {
    if (error instanceof ProfileTooDeepError) return error.message;
    throw error;
  }
}

/** The name a whole JSON value carries, if any; a value too deep to read has none. */
function nameIn(value: Record<string, unknown>): string | undefined {
  const fields = flattenOrReason(value);
  return typeof fields === 'string' ? undefined : findNameField(fields);
}

/** CharacterEval: `{ key: { 姓名, 性别, ... } }`; the key is how the character is known. */
function keyedRecord(key: string | undefined, value: unknown, location: string): RecordOrReason {
  if (!isObject(value)) return `expected an object of profile fields, got ${describe(value)}`;
  const fields = flattenOrReason(value);
  if (typeof fields === 'string') return fields;
  return { location, name: key?.trim() || findNameField(fields), fields };
}

/** RAIDEN benchmark npc.json: `{ key: { npc_type, npc_setting: "姓名: ...,\n性别: ...,\n..." } }`. */
function npcRecord(key: string | undefined, value: unknown, location: string): RecordOrReason {
  if (!isObject(value)) return `expected an object with npc_setting, got ${describe(value)}`;
  const setting = value.npc_setting;
  if (typeof setting !== 'string') return 'npc_setting is missing or not a string';
  const fields = parseLabelledLines(setting);
  let type: string;
  try {
    type = flattenValue(value.npc_type);
  } catch (error) {
    if (error instanceof ProfileTooDeepError) return error.message;
    throw error;
  }
  if (type.length > 0) fields.npc_type = type;
  return { location, name: key?.trim() || findNameField(fields), fields };
}

/**
 * Labels a one-line <Character Setting> is split on (a block written one label per line needs none: any
 * `label:` at a line start counts). Known labels only, because inside one line "at 4:17" has a colon too.
 */
const RAIDEN_LABELS = [
  'Name',
  'Gender',
  'Age',
  'Occupation',
  'Identity',
  'Nickname',
  'Birthday',
  'Hometown',
  'Appearance',
  'Personality',
  'Hobbies',
  'Background',
  'Relationships',
  'Introduction',
  'Detailed Description',
  '姓名',
  '性别',
  '年龄',
  '职业',
  '身份',
  '昵称',
  '生日',
  '外貌',
  '性格',
  '爱好',
  '背景',
  '人物关系',
  '简介',
  '介绍',
  '详细描述',
];
const RAIDEN_LABEL_PATTERN = new RegExp(`(?<![\\p{L}\\p{N}])(${RAIDEN_LABELS.join('|')})\\s*[:：]`, 'gu');

/** RAIDEN-R1 JSONL: `{"prompt": "... <Character Setting> Name: ... Gender: ... </Character Setting> ..."}`. */
function raidenRecord(value: unknown, location: string): RecordOrReason {
  if (!isObject(value) || typeof value.prompt !== 'string') return 'expected an object with a string "prompt" field';
  const block = /<Character Setting>([\s\S]*?)<\/Character Setting>/iu.exec(value.prompt);
  if (!block) return 'prompt has no <Character Setting>...</Character Setting> block';
  const body = (block[1] ?? '').trim();
  const lines = body.split(/\r?\n/u).filter((line) => line.trim().length > 0);
  if (lines.length > 1) {
    const fields = parseLabelledLines(body, 'Description');
    return { location, name: findNameField(fields), fields };
  }
  const marks = [...body.matchAll(RAIDEN_LABEL_PATTERN)];
  const fields: Record<string, string> = {};
  marks.forEach((mark, index) => {
    const start = (mark.index ?? 0) + mark[0].length;
    const end = marks[index + 1]?.index ?? body.length;
    const text = body.slice(start, end).trim();
    if (text.length > 0) fields[mark[1] ?? ''] = text;
  });
  if (marks.length === 0 && body.length > 0) fields.Description = body;
  return { location, name: findNameField(fields), fields };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}
