/**
 * `raiden export` and Finalize's exports: a finished run's train.json and validation.json as one trainer's
 * files, with the reward function (raiden_reward.py and the matching data it reads) and a dataset card.
 * Where the run is read from and where the files go are the caller's: a directory or an S3 prefix.
 */
import { readFile } from 'node:fs/promises';
import { RUN_FILES } from '../../contract/run-layout.ts';
import traditionalChinese from '../verify/data/traditional-chinese.json' with { type: 'json' };
import { profileIdOf } from '../run/dataset-split.ts';
import { ANSWER_GUARDS } from '../verify/answer-guards.ts';
import { KEYWORD_RULES } from '../verify/keyword-match.ts';
import { renderProfileText } from '../profiles/profile.ts';
import type { Sample } from '../verify/sample.ts';
import { datasetCard, DEFAULT_LICENSE, type CardRun, type ExportTally } from './dataset-card.ts';
import { FORMAT_LAYOUTS, splitFileName, SPLITS, type DataFile, type ExportFormat, type Split } from './export-formats.ts';
import { parquetChunks } from './parquet-table.ts';
import { ProfileWindow, type ProfileRecord } from './profile-table.ts';
import { chatTokenizer, DEFAULT_TOKENIZER, LengthTally, rowTokens, type TokenizerName } from './prompt-tokens.ts';
import type { PromptProfile } from './trainer-prompt.ts';

/** A run's files, wherever they are. */
export interface ExportSource {
  /** Where the run is, ending in `/` (a directory path or an s3:// prefix): messages name files after it. */
  readonly location: string;
  readJson<T>(name: string): Promise<T | undefined>;
  /** The lines of a run file, or undefined when the run has no such file. */
  readLines(name: string): Promise<AsyncIterable<string> | undefined>;
}

/**
 * A file of an export: small ones whole, the data files as chunks made while the run's samples are read, so
 * a sink writes a file of any size without holding it (locally a file stream, in S3 a multipart upload).
 */
export type ExportBody = string | Uint8Array | AsyncIterable<string | Uint8Array>;

/** Where an export's files go. */
export interface ExportSink {
  readonly location: string;
  /** Writes the whole body, pulling the chunks of a streamed one as it goes. */
  write(name: string, body: ExportBody): Promise<void>;
}

/** The run cannot be exported as it is (not finished, nothing accepted, a damaged file); the message says what to do. */
export class ExportError extends Error {
  override readonly name = 'ExportError';
}

export interface ExportOptions {
  readonly format: ExportFormat;
  readonly now?: () => Date;
  /** Whose tokens the card and the recipes count (DEFAULT_TOKENIZER when absent). */
  readonly tokenizer?: TokenizerName;
  /** The card's license identifier (DEFAULT_LICENSE when absent). */
  readonly license?: string;
}

export interface ExportSummary {
  readonly format: ExportFormat;
  readonly location: string;
  /** Every file written, data files first. */
  readonly files: readonly string[];
  readonly rows: Readonly<Record<Split, number>>;
  /** Samples whose profile text was rendered from character_profile, because the run has no profile table. */
  readonly renderedProfiles: number;
}

export const REWARD_FILE = 'raiden_reward.py';

/** raiden_reward.py and the three data files it reads from its own directory. */
export async function rewardFiles(): Promise<{ readonly name: string; readonly body: string }[]> {
  return [
    { name: REWARD_FILE, body: await readFile(new URL(`./${REWARD_FILE}`, import.meta.url), 'utf8') },
    { name: 'keyword-rules.json', body: `${JSON.stringify(KEYWORD_RULES, null, 1)}\n` },
    { name: 'traditional-chinese.json', body: `${JSON.stringify(traditionalChinese, null, 1)}\n` },
    { name: 'answer-guards.json', body: `${JSON.stringify(ANSWER_GUARDS, null, 1)}\n` },
  ];
}

export async function exportRun(source: ExportSource, sink: ExportSink, options: ExportOptions): Promise<ExportSummary> {
  const layout = FORMAT_LAYOUTS[options.format];
  const tokenizer = await chatTokenizer(options.tokenizer ?? DEFAULT_TOKENIZER);
  const lengths = new LengthTally();
  const profilesFile = `${source.location}${RUN_FILES.profiles}`;
  const table = await ProfileWindow.open(
    () => source.readLines(RUN_FILES.profiles),
    (line) => parseLine<ProfileRecord>(line, profilesFile),
  );
  const tally: ExportTally = { rows: { train: 0, validation: 0 }, kinds: {}, languages: new Set(), characters: new Set() };
  let renderedProfiles = 0;
  const profileOf = async (sample: Sample): Promise<PromptProfile> => {
    const record = await table?.get(profileIdOf(sample.id));
    if (record !== undefined) return record;
    renderedProfiles++;
    return { name: sample.character_name, language: sample.metadata.language, text: renderProfileText({ ...sample.character_profile }) };
  };

  const dataFiles: DataFile[] = [];
  for (const split of SPLITS) {
    const samples = await splitSamples(source, split);
    const rows = (async function* () {
      for await (const sample of samples) {
        const profile = await profileOf(sample);
        const input = { sample, profile, split, index: tally.rows[split] };
        const row = layout.row(input);
        lengths.add(split, sample.metadata.kind, rowTokens(tokenizer, layout.chat(input)));
        tally.rows[split]++;
        tally.kinds[sample.metadata.kind] = (tally.kinds[sample.metadata.kind] ?? 0) + 1;
        tally.languages.add(profile.language);
        tally.characters.add(profileIdOf(sample.id));
        yield row;
      }
    })();
    const nonEmpty = await unlessEmpty(rows);
    // An empty split gets no file: some trainers fail on a data file without rows.
    if (nonEmpty === undefined) continue;
    const name = splitFileName(layout, split);
    await sink.write(name, layout.table === undefined ? jsonLines(nonEmpty) : parquetChunks(layout.table, nonEmpty));
    dataFiles.push({ split, name, rows: tally.rows[split] });
  }
  if (dataFiles.length === 0)
    throw new ExportError(`${source.location} has no accepted samples in train.json or validation.json: nothing to export`);

  const companions = layout.companions?.(dataFiles) ?? [];
  for (const file of companions) await sink.write(file.name, file.body);
  const rewards = await rewardFiles();
  for (const file of rewards) await sink.write(file.name, file.body);
  const card = datasetCard({
    layout,
    dataFiles,
    tally,
    run: await cardRun(source),
    renderedProfiles,
    exportedAt: (options.now ?? (() => new Date()))(),
    lengths,
    tokenizer,
    license: options.license ?? DEFAULT_LICENSE,
  });
  await sink.write('README.md', card);
  return {
    format: options.format,
    location: sink.location,
    files: [
      ...dataFiles.map((file) => file.name),
      ...companions.map((file) => file.name),
      ...rewards.map((file) => file.name),
      'README.md',
    ],
    rows: tally.rows,
    renderedProfiles,
  };
}

/**
 * The samples of a split file as finalizeRun writes it: a JSON array with one sample per line, read line
 * by line so a large run is never parsed whole. A file on one line (such as `[]`) reads too.
 */
async function splitSamples(source: ExportSource, split: Split): Promise<AsyncIterable<Sample>> {
  const name = RUN_FILES[split];
  const lines = await source.readLines(name);
  if (lines === undefined)
    throw new ExportError(
      `${source.location} has no ${name}: the run has not been finalized yet; let raiden generate (or the workflow's Finalize) finish it, then export`,
    );
  return (async function* () {
    for await (const line of lines) {
      const text = line.trim().replace(/,$/u, '');
      if (text === '' || text === '[' || text === ']') continue;
      const value = parseLine<Sample | Sample[]>(text, `${source.location}${name}`);
      if (Array.isArray(value)) yield* value;
      else yield value;
    }
  })();
}

function parseLine<T>(line: string, where: string): T {
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new ExportError(`${where} has a line that is not JSON (${line.slice(0, 80)}...): restore the file, or finalize the run again`);
  }
}

/** The same items, or undefined when there are none (known only after pulling the first). */
async function unlessEmpty<T>(items: AsyncIterable<T>): Promise<AsyncIterable<T> | undefined> {
  const iterator = items[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done === true) return undefined;
  return (async function* () {
    yield first.value;
    for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) yield next.value;
  })();
}

/** Text of a JSONL data file given to the sink at a time: few writes, and never more than this held. */
const JSONL_CHUNK_CHARS = 1 << 20;

/** One JSON line per row, handed out in chunks of about JSONL_CHUNK_CHARS as the rows are made. */
async function* jsonLines(rows: AsyncIterable<Record<string, unknown>>): AsyncGenerator<string> {
  let chunk = '';
  for await (const row of rows) {
    chunk += `${JSON.stringify(row)}\n`;
    if (chunk.length >= JSONL_CHUNK_CHARS) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk !== '') yield chunk;
}

async function cardRun(source: ExportSource): Promise<CardRun> {
  const [report, manifest, plan] = await Promise.all([
    source.readJson<CardRun['report']>(RUN_FILES.report),
    source.readJson<CardRun['manifest']>(RUN_FILES.manifest),
    source.readJson<CardRun['plan']>(RUN_FILES.plan),
  ]);
  return { location: source.location, report, manifest, plan };
}
