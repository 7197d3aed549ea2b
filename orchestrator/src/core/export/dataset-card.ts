/**
 * README.md of an export: a Hugging Face dataset card (YAML front matter with configs, language, task
 * category, size and license) and a body that says what is in the files, how long the prompts are in the
 * model's tokens, how to train on them with the reward, under which terms, and how the run was generated,
 * with its settings for reproducibility. The card is meant to be published with the data, so it names no
 * local path, endpoint, storage location or account: a file by its name (and the profiles by their sha256).
 */
import { codeSpan } from './markdown-text.ts';
import type { DataFile, FormatLayout, Split } from './export-formats.ts';
import type { ChatTokenizer, LengthTally } from './prompt-tokens.ts';
import { trainingRecipe } from './reward-usage.ts';

export interface ExportTally {
  readonly rows: Record<Split, number>;
  readonly kinds: Record<string, number>;
  readonly languages: Set<string>;
  readonly characters: Set<string>;
}

/** The parts of report.json, run.json and plan.json the card shows; older runs may lack any of them. */
export interface CardRun {
  readonly location: string;
  readonly report?:
    | {
        readonly run_id?: string;
        readonly status?: string;
        readonly started_at?: string;
        readonly finished_at?: string;
        readonly input?: { readonly file?: string; readonly format?: string; readonly profiles_usable?: number };
        readonly samples?: { readonly accepted?: number };
        readonly rejects?: { readonly total?: number; readonly total_by_reason?: Readonly<Record<string, number>> };
        readonly strategy?: { readonly name?: string; readonly description?: string; readonly models?: readonly string[] } & Readonly<
          Record<string, unknown>
        >;
      }
    | undefined;
  readonly manifest?: Readonly<Record<string, unknown>> | undefined;
  readonly plan?: { readonly spec?: Readonly<Record<string, unknown>>; readonly executionArn?: string } | undefined;
}

export interface CardInput {
  readonly layout: FormatLayout;
  readonly dataFiles: readonly DataFile[];
  readonly tally: ExportTally;
  readonly run: CardRun;
  readonly renderedProfiles: number;
  readonly exportedAt: Date;
  readonly lengths: LengthTally;
  readonly tokenizer: Pick<ChatTokenizer, 'name' | 'measured' | 'model' | 'description'>;
  /** A Hugging Face license identifier; `unknown` until the user chooses one. */
  readonly license: string;
}

/**
 * `license: unknown` and `license: other` are identifiers of the Hub's license list, beside the SPDX-like ids.
 * https://huggingface.co/docs/hub/repositories-licenses
 */
export const DEFAULT_LICENSE = 'unknown';

const TRAINERS: Record<FormatLayout['format'], string> = {
  verl: 'verl (GRPO)',
  trl: 'TRL GRPOTrainer',
  easyr1: 'EasyR1 (GRPO)',
  sft: 'supervised fine-tuning (cold start)',
};

/** The size_categories buckets of the Hugging Face Hub. */
function sizeCategory(rows: number): string {
  const buckets: [number, string][] = [
    [1_000, 'n<1K'],
    [10_000, '1K<n<10K'],
    [100_000, '10K<n<100K'],
    [1_000_000, '100K<n<1M'],
    [10_000_000, '1M<n<10M'],
  ];
  return buckets.find(([limit]) => rows < limit)?.[1] ?? '10M<n<100M';
}

function frontMatter(input: CardInput, title: string): string {
  const rows = input.tally.rows.train + input.tally.rows.validation;
  const languages = [...input.tally.languages].sort();
  return [
    '---',
    `pretty_name: ${JSON.stringify(title)}`,
    'language:',
    ...languages.map((language) => `- ${language}`),
    'task_categories:',
    '- text-generation',
    'tags:',
    '- role-play',
    '- raiden-r1',
    `- ${input.layout.format}`,
    'size_categories:',
    `- ${sizeCategory(rows)}`,
    'configs:',
    '- config_name: default',
    '  data_files:',
    ...input.dataFiles.flatMap((file) => [`  - split: ${file.split}`, `    path: ${file.name}`]),
    `license: ${input.license}`,
    '---',
  ].join('\n');
}

function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.map((cell) => String(cell).replace(/\|/gu, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Keys whose values are file paths: only the file's name is shown. */
const PATH_KEYS = new Set(['profiles', 'profiles_file', 'file', 'seedData', 'seed_data', 'priceFile']);
const URL = /^[a-z][a-z0-9+.-]*:\/\//iu;
const LOCAL_PATH = /^(?:\/|\.{1,2}[/\\]|~|[a-z]:\\)/iu;
const NOT_SHOWN = '(not shown)';

function baseName(path: string): string {
  return (
    path
      .split(/[/\\]/u)
      .filter((part) => part !== '')
      .at(-1) ?? path
  );
}

/** A run's settings without what belongs to the machine or account that ran it: endpoints, storage locations, ARNs, paths. */
export function publicSettings(value: unknown, key = ''): unknown {
  if (typeof value === 'string') {
    if (URL.test(value) || value.startsWith('arn:')) return NOT_SHOWN;
    return PATH_KEYS.has(key) || LOCAL_PATH.test(value) ? baseName(value) : value;
  }
  if (Array.isArray(value)) return value.map((item) => publicSettings(item, key));
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([name, inner]) => [name, publicSettings(inner, name)]));
  return value;
}

function modelsOf(input: CardInput): string[] {
  return [...(input.run.report?.strategy?.models ?? [])];
}

function generation(input: CardInput): string[] {
  const { report, manifest, plan } = input.run;
  const lines = ['## How it was generated', ''];
  lines.push(
    `Generated by raiden-datagen (${plan?.executionArn !== undefined ? 'the AWS workflow' : '`raiden generate`'}) in the run ${codeSpan(report?.run_id ?? 'unknown')}, exported on ${input.exportedAt.toISOString()}.`,
    '',
  );
  if (report === undefined) {
    lines.push('The run has no report.json, so how it was generated is not recorded here.', '');
  } else {
    const strategy = report.strategy;
    const profilesFile = report.input?.file ?? (manifest?.profiles_file as string | undefined);
    const digest = manifest?.profiles_sha256;
    lines.push(
      `- Status: ${report.status ?? 'unknown'}; started ${report.started_at ?? 'unknown'}, finished ${report.finished_at ?? 'unknown'}.`,
      `- Profiles: ${codeSpan(profilesFile !== undefined ? baseName(profilesFile) : 'unknown')}${typeof digest === 'string' ? ` (sha256 ${codeSpan(digest)})` : ''}, ${report.input?.format ?? 'unknown format'}, ${report.input?.profiles_usable ?? '?'} usable; ${input.tally.characters.size} characters in this export.`,
      `- Strategy: ${strategy?.name ?? 'unknown'}${strategy?.description !== undefined ? ` (${strategy.description})` : ''}.`,
      `- Models: ${
        modelsOf(input)
          .map((model) => codeSpan(model))
          .join(', ') || 'not recorded'
      }.`,
      `- Samples: ${report.samples?.accepted ?? '?'} accepted; in this export ${Object.entries(input.tally.kinds)
        .sort()
        .map(([kind, count]) => `${count} ${kind}`)
        .join(', ')}.`,
      `- Rejected attempts: ${report.rejects?.total ?? 0} (each failed verification or review and was retried; none is in the data).`,
      '',
    );
    const reasons = Object.entries(report.rejects?.total_by_reason ?? {}).sort(([, a], [, b]) => b - a);
    if (reasons.length > 0) lines.push(table(['reject reason', 'attempts'], reasons), '');
  }
  lines.push(
    input.renderedProfiles === 0
      ? "The profile text in each prompt is the run's profile table (`profiles.jsonl`): the text the generator's prompts showed."
      : `The run has no profile table (\`profiles.jsonl\`; runs written before it existed), so the profile text of ${input.renderedProfiles} samples was rendered from their \`character_profile\` fields as the generator renders a profile (\`label: value\`, one field per line).`,
    '',
  );
  lines.push('### Settings for reproducibility', '');
  lines.push(`Files are named without their directory; endpoints, storage locations and ARNs show as \`${NOT_SHOWN}\`.`, '');
  const json = (value: unknown) => JSON.stringify(publicSettings(value), null, 2);
  if (manifest !== undefined)
    lines.push('`run.json` (the plan the run directory was created for):', '', '```json', json(manifest), '```', '');
  if (plan?.spec !== undefined)
    lines.push('Every setting of the run, defaults filled in (`plan.json`):', '', '```json', json(plan.spec), '```', '');
  if (report?.strategy !== undefined) lines.push('The strategy (`report.json`):', '', '```json', json(report.strategy), '```', '');
  if (manifest === undefined && plan?.spec === undefined && report?.strategy === undefined) lines.push('The run recorded no settings.', '');
  return lines;
}

function promptLengths(input: CardInput): string[] {
  const sft = input.layout.format === 'sft';
  const longest = input.lengths.longest();
  const header = ['split', 'kind', 'rows', 'prompt p50', 'prompt p95', 'prompt max', ...(sft ? ['row p50', 'row p95', 'row max'] : [])];
  const rows = input.lengths
    .groupsOf()
    .map((group) => [
      group.split,
      group.kind,
      group.prompt.rows,
      group.prompt.p50,
      group.prompt.p95,
      group.prompt.max,
      ...(sft ? [group.full.p50, group.full.p95, group.full.max] : []),
    ]);
  return [
    '## Prompt lengths',
    '',
    `In tokens of \`${input.tokenizer.model}\`, ${input.tokenizer.description}${input.tokenizer.measured ? '' : ' (an estimate: no tokenizer was used)'}; \`raiden export --tokenizer\` chooses another. A prompt is counted as the trainer frames it, with the chat template and the assistant header before the answer${input.layout.format === 'easyr1' ? " (EasyR1 sends the prompt string as one user message; Qwen2.5's template then adds its default system message)" : ''}${sft ? '; a row is the whole conversation with the assistant turn' : ''}.`,
    '',
    table(header, rows),
    '',
    `Longest prompt ${longest.prompt} tokens, longest reference response (reasoning and answer) ${longest.response}${sft ? `, longest row ${longest.full}` : ''}. The recipes below set their lengths from these numbers.`,
    '',
  ];
}

function licence(input: CardInput): string[] {
  const profilesFile = input.run.report?.input?.file ?? (input.run.manifest?.profiles_file as string | undefined);
  const models = modelsOf(input);
  return [
    '## License',
    '',
    `License: \`${input.license}\`${input.license === DEFAULT_LICENSE ? ' (not chosen: set it with `raiden export --license <id>`, a Hugging Face license identifier, before you publish)' : ''}. Two other terms apply to this data whatever license you choose:`,
    '',
    `- The prompts quote the character profiles${profilesFile !== undefined ? ` of ${codeSpan(baseName(profilesFile))}` : ''} word for word: their source's license governs that text.`,
    `- The questions, reasoning and answers were written by ${models.length > 0 ? models.map((model) => codeSpan(model)).join(', ') : 'the models of the run'}: the terms of each model (and of the service that ran it) may restrict using its output, for example to train another model.`,
    '',
  ];
}

export function datasetCard(input: CardInput): string {
  const runId = input.run.report?.run_id;
  const title = `RAIDEN-R1 role-play data${runId !== undefined ? ` (${runId})` : ''} for ${TRAINERS[input.layout.format]}`;
  const body = [
    `# RAIDEN-R1 role-play data${runId !== undefined ? ` (${codeSpan(runId)})` : ''} for ${TRAINERS[input.layout.format]}`,
    '',
    'Role-play questions whose correct answer is checked mechanically by keywords (RAIDEN-R1):',
    '',
    "- **SBK** (script-based knowledge): a question about a fact of the character's profile; the keywords come from the profile.",
    '- **CM** (conversation memory): a conversation in which the user mentions a detail, then a question about it; the keywords come from that earlier user turn.',
    '',
    'Every prompt starts with a system message holding the role-play instruction and the character profile; a CM prompt then has the conversation, and the question is the last user message. The language follows the profile.',
    '',
    '## Files',
    '',
    table(
      ['file', 'split', 'rows'],
      input.dataFiles.map((file) => [`\`${file.name}\``, file.split, file.rows]),
    ),
    '',
    ...(input.dataFiles.length < 2
      ? [`Only the ${input.dataFiles[0]?.split ?? 'train'} split has samples, so it is the only data file.`, '']
      : []),
    ...(input.layout.format === 'sft'
      ? ["- `dataset_info.json`: LLaMA-Factory's description of the data files, so `dataset_dir` can point at this directory.", '']
      : []),
    '- `raiden_reward.py`: the reward function (Python standard library only), with `keyword-rules.json`, `traditional-chinese.json` and `answer-guards.json`, the data it reads from its own directory. Keep the four files together.',
    '',
    '## Columns',
    '',
    table(
      ['column', 'content'],
      Object.entries(input.layout.columns).map(([column, content]) => [`\`${column}\``, content]),
    ),
    '',
    ...promptLengths(input),
    '## Reward',
    '',
    "`raiden_reward.py` pays for a right answer, not for the keywords' words alone. The keywords score 1.0 when the answer holds every keyword of the sample (each in any of its `keyword_alternatives`), with exactly the matching the generator's verifier used to accept the sample: NFKC, case, width, punctuation variants and invisible characters folded, traditional Chinese as simplified, CJK numerals as digits; Latin keywords match whole words, a number never matches inside a longer number. Every `<think>...</think>` block is dropped first, wherever it stands, so only the answer counts. Each answer guard the answer fails (it denies the keyword, hedges between values, names the CM distractor, recites the profile, runs far past the reference answer, is in the other language or steps out of character) multiplies that score by (1 - its penalty in `answer-guards.json`, 1.0 by default). An optional format term (`format_weight`, off by default; keep it at most 0.2) adds a score for a closed `<think>` block followed by an answer. `raiden probe-reward --export .` scores reward hacks built from these rows.",
    '',
    '## Train with it',
    '',
    trainingRecipe({
      format: input.layout.format,
      dataFiles: input.dataFiles,
      longest: input.lengths.longest(),
      tokenizer: input.tokenizer,
    }),
    '',
    ...licence(input),
    ...generation(input),
  ];
  return `${frontMatter(input, title)}\n\n${body.join('\n').trimEnd()}\n`;
}
