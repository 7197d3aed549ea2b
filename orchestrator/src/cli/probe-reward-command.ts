/**
 * `raiden probe-reward --export DIR`: scores hack completions built from every exported row through the
 * export's own raiden_reward.py, called exactly as the export's trainer calls it (verl compute_score per
 * response, TRL keyword_reward per batch with every column, EasyR1 easyr1_compute_score per batch), and
 * prints the share of each hack that is paid. Without python3 the TypeScript port scores, and says so.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { FORMAT_LAYOUTS, splitFileName, SPLITS, type ExportFormat } from '../core/export/export-formats.ts';
import { PAID, probeReward, probeRowOf, type ProbeCall, type ProbeResult, type ProbeRow } from '../core/export/reward-probe.ts';
import { REWARD_FILE } from '../core/export/run-export.ts';
import { rewardParts } from '../core/verify/answer-guards.ts';
import type { CliIo } from './cli-io.ts';
import { printable } from './terminal-text.ts';
import { textTable } from './text-table.ts';
import { EXIT, UsageError } from './usage-error.ts';

const REWARDED_FORMATS = ['verl', 'trl', 'easyr1'] as const satisfies readonly ExportFormat[];

/** Which trainer an export is for, from its data file's columns. */
function formatOf(columns: readonly string[]): ExportFormat | undefined {
  return REWARDED_FORMATS.find((format) => {
    const table = FORMAT_LAYOUTS[format].table;
    return table !== undefined && Object.keys(table).every((column) => columns.includes(column));
  });
}

/** BigInt (parquet int64) as a number, so rows pass through JSON to Python as the trainer's loader gives them. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? Number(item) : item)));
}

export interface ExportRows {
  readonly format: ExportFormat;
  readonly rows: readonly Record<string, unknown>[];
}

async function readExportRows(directory: string): Promise<ExportRows> {
  const rows: Record<string, unknown>[] = [];
  let format: ExportFormat | undefined;
  for (const split of SPLITS) {
    const file = join(directory, splitFileName(FORMAT_LAYOUTS.verl, split));
    if (!existsSync(file)) continue;
    const read = (await parquetReadObjects({ file: await asyncBufferFromFile(file) })) as Record<string, unknown>[];
    format ??= formatOf(Object.keys(read[0] ?? {}));
    rows.push(...read.map((row) => plain(row) as Record<string, unknown>));
  }
  if (format === undefined) {
    const sft = SPLITS.some((split) => existsSync(join(directory, splitFileName(FORMAT_LAYOUTS.sft, split))));
    throw new UsageError(
      sft
        ? `--export ${directory} is an SFT export: it has no reward to probe; probe a verl, TRL or EasyR1 export of the same run`
        : `--export ${directory} holds no train.parquet or validation.parquet of a verl, TRL or EasyR1 export: give the --out directory of raiden export`,
    );
  }
  return { format, rows };
}

const PYTHON_DRIVER = `
import json, sys
sys.path.insert(0, sys.argv[1])
import raiden_reward as reward
job = json.load(sys.stdin)
calls = job["calls"]
if job["format"] == "verl":
    scores = []
    for call in calls:
        result = reward.compute_score(data_source=call["data_source"], solution_str=call["completion"], ground_truth=call["ground_truth"], extra_info=call["extra_info"])
        scores.append(result["score"] if isinstance(result, dict) else result)
elif job["format"] == "trl":
    columns = [key for key in (calls[0]["columns"] if calls else {}) if key != "prompt"]
    scores = reward.keyword_reward(
        prompts=[call["columns"]["prompt"] for call in calls],
        completions=[[{"role": "assistant", "content": call["completion"]}] for call in calls],
        completion_ids=[[] for _ in calls],
        **{key: [call["columns"][key] for call in calls] for key in columns},
    )
else:
    scores = [item["overall"] for item in reward.easyr1_compute_score([{"response": call["completion"], "ground_truth": call["ground_truth"]} for call in calls])]
json.dump(scores, sys.stdout)
`;

/** The arguments each trainer passes for one completion of a row. */
function trainerCall(format: ExportFormat, row: Record<string, unknown>, completion: string): Record<string, unknown> {
  if (format === 'verl')
    return {
      completion,
      data_source: row.data_source,
      ground_truth: (row.reward_model as { ground_truth: string }).ground_truth,
      extra_info: row.extra_info,
    };
  if (format === 'trl') return { completion, columns: row };
  return { completion, ground_truth: row.answer };
}

function pythonScores(directory: string, format: ExportFormat, calls: readonly Record<string, unknown>[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = execFile('python3', ['-c', PYTHON_DRIVER, directory], { maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`${REWARD_FILE} failed: ${stderr.trim().split('\n').slice(-3).join(' ') || error.message}`));
      else resolve(JSON.parse(stdout) as number[]);
    });
    child.stdin?.end(JSON.stringify({ format, calls }));
  });
}

export interface ProbeOutcome {
  readonly result: ProbeResult;
  readonly scorer: 'python' | 'typescript';
  readonly format: ExportFormat;
}

/** Probes an export directory; `python: false` scores with the TypeScript port (no python3 on the machine). */
export async function probeExport(
  directory: string,
  options: { readonly python?: boolean; readonly maxRows?: number } = {},
): Promise<ProbeOutcome> {
  const read = await readExportRows(directory);
  const { format } = read;
  // A sample spread over the whole export (train, then validation; SBK and CM rows alike), not its first rows.
  const step = Math.max(1, read.rows.length / (options.maxRows ?? read.rows.length));
  const rows = Array.from(
    { length: Math.min(read.rows.length, options.maxRows ?? read.rows.length) },
    (_, index) => read.rows[Math.floor(index * step)] as Record<string, unknown>,
  );
  const byRow = new Map<ProbeRow, Record<string, unknown>>();
  const probeRows: ProbeRow[] = [];
  for (const row of rows) {
    const probeRow = probeRowOf(format, row);
    if (probeRow === undefined) continue;
    byRow.set(probeRow, row);
    probeRows.push(probeRow);
  }
  const python = options.python ?? (await hasPython());
  const score = async (calls: readonly ProbeCall[]) =>
    python
      ? pythonScores(
          directory,
          format,
          calls.map((call) => trainerCall(format, byRow.get(call.row) ?? {}, call.completion)),
        )
      : calls.map((call) => rewardParts(call.completion, call.row.truth).score);
  return { result: await probeReward(probeRows, score), scorer: python ? 'python' : 'typescript', format };
}

function hasPython(): Promise<boolean> {
  return new Promise((resolve) => execFile('python3', ['--version'], (error) => resolve(error === null)));
}

/** The probe's table and verdict, as the terminal shows them. */
export function renderProbe(outcome: ProbeOutcome): string {
  const { result } = outcome;
  const table = textTable([
    ['hack', 'rows', `paid (> ${PAID})`, 'max score'],
    ...result.lines.map((line) => [
      line.hack,
      line.rows,
      `${line.paid} (${Math.round((100 * line.paid) / Math.max(1, line.rows))}%)`,
      line.maxScore.toFixed(2),
    ]),
  ]);
  const scorer =
    outcome.scorer === 'python'
      ? `${REWARD_FILE} as ${outcome.format} calls it`
      : `the TypeScript port of ${REWARD_FILE} (python3 not found)`;
  const reference = `reference answers: ${result.reference.rows} rows, lowest score ${result.reference.minScore.toFixed(2)}`;
  return `reward probe, scored by ${scorer}:\n${table}\n${reference}\n`;
}

/** The probe's failures as one message, or undefined when no hack is paid and every reference answer scores 1.0. */
export function probeProblem(result: ProbeResult): string | undefined {
  const problems: string[] = [];
  if (result.paidHacks.length > 0) problems.push(`the reward pays these hacks: ${result.paidHacks.join('; ')}`);
  if (result.reference.below.length > 0)
    problems.push(
      `${result.reference.below.length} reference answers score below 1.0 (first: ${printable(result.reference.below[0] ?? '')}): run raiden reverify on the run, then export again`,
    );
  return problems.length === 0 ? undefined : problems.join('; ');
}

export function addProbeRewardCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('probe-reward')
    .description("score reward hacks built from every row of an export through the export's own reward function, as its trainer calls it")
    .requiredOption('--export <dir>', 'the --out directory of raiden export (verl, trl or easyr1)')
    .action(async (opts: { export: string }) => {
      const outcome = await probeExport(opts.export);
      io.stdout.write(renderProbe(outcome));
      const problem = probeProblem(outcome.result);
      if (problem !== undefined) {
        io.stderr.write(`raiden: ${problem}\n`);
        setExit(EXIT.failure);
        return;
      }
      io.stdout.write(`no hack is paid above ${PAID}; every reference answer scores 1.0\n`);
      setExit(EXIT.ok);
    });
}
