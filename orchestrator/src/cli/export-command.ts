/**
 * `raiden export --run DIR|s3://bucket/runs/ID --format verl|trl|easyr1|sft --out DIR`: a finished run as one
 * trainer's files, with the reward function and a dataset card, written to a local directory.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { Option, type Command } from 'commander';
import { parseS3Uri } from '../contract/s3-uri.ts';
import { EXPORT_FORMATS, type ExportFormat } from '../core/export/export-formats.ts';
import { ExportError, exportRun, type ExportSource } from '../core/export/run-export.ts';
import { WRITER_LEASE, type RunWriter } from '../core/run/run-manifest.ts';
import { refuseRunInChange, RunInChangeError, type RunChangeProbe } from '../core/run/run-in-change.ts';
import { DEFAULT_LICENSE } from '../core/export/dataset-card.ts';
import { DEFAULT_TOKENIZER, TOKENIZERS, type TokenizerName } from '../core/export/prompt-tokens.ts';
import type { CliIo } from './cli-io.ts';
import { openExportDirectory } from './export-directory.ts';
import { processWriter } from './process-writer.ts';
import { probeExport, probeProblem, renderProbe } from './probe-reward-command.ts';
import { s3RunWriter } from './s3-run-writer.ts';
import { printable } from './terminal-text.ts';
import { EXIT, UsageError } from './usage-error.ts';

export interface ExportFlags {
  /** A run directory, or a run's S3 prefix. */
  readonly run: string;
  readonly format: ExportFormat;
  readonly out: string;
  readonly region?: string | undefined;
  /** Whose tokens the card's prompt lengths and recipes count. */
  readonly tokenizer?: TokenizerName | undefined;
  /** The dataset card's license identifier. */
  readonly license?: string | undefined;
  /** Score the reward probe's hacks on the new export (raiden probe-reward). @default true */
  readonly probe?: boolean | undefined;
}

/** A Hugging Face license identifier (`cc-by-4.0`, `apache-2.0`, `other`, `unknown`): https://huggingface.co/docs/hub/repositories-licenses */
const LICENSE_ID = /^[a-z0-9][a-z0-9.+-]*$/u;

/** What tests replace: the S3 client (a local S3 server). */
export interface ExportDependencies {
  readonly s3?: S3Client;
  readonly now?: () => Date;
}

export async function runExport(flags: ExportFlags, io: CliIo, deps: ExportDependencies = {}): Promise<number> {
  if (flags.license !== undefined && !LICENSE_ID.test(flags.license))
    throw new UsageError(
      `--license ${JSON.stringify(flags.license)} is not a license identifier: give a Hugging Face one in lower case, such as cc-by-4.0, apache-2.0 or other (https://huggingface.co/docs/hub/repositories-licenses)`,
    );
  const opened = flags.run.startsWith('s3://') ? await openS3Run(flags, deps) : await openLocalRun(flags.run);
  const directory = await openExportDirectory(flags.out).catch((error: unknown) => {
    opened.close();
    throw error;
  });
  for (const note of directory.notes) io.stderr.write(`raiden: ${note}\n`);
  try {
    const summary = await exportRun(opened.source, directory.sink, {
      format: flags.format,
      now: deps.now,
      tokenizer: flags.tokenizer,
      license: flags.license,
    });
    await directory.commit({
      run: opened.source.location,
      format: summary.format,
      exported_at: (deps.now ?? (() => new Date()))().toISOString(),
    });
    io.stdout.write(
      `${summary.format} export of ${opened.source.location} written to ${summary.location}: ${summary.rows.train} train and ${summary.rows.validation} validation rows\n` +
        `  ${summary.files.join(', ')}\n`,
    );
    if (summary.renderedProfiles > 0)
      io.stdout.write(
        `  the run has no profiles.jsonl (written before the profile table existed): ${summary.renderedProfiles} prompts show the profile rendered from character_profile, as the dataset card says\n`,
      );
    return summary.format === 'sft' || flags.probe === false ? EXIT.ok : await probeAfterExport(flags.out, io);
  } catch (error) {
    await directory.abandon();
    if (error instanceof ExportError) throw new UsageError(error.message);
    throw error;
  } finally {
    opened.close();
  }
}

/** Rows of a new export the probe scores: enough to meet every kind of row, quick enough for every export. */
const EXPORT_PROBE_ROWS = 64;

/** Every export with a reward is probed for paid hacks before the user trains on it; a paid hack fails the command. */
async function probeAfterExport(directory: string, io: CliIo): Promise<number> {
  const outcome = await probeExport(directory, { maxRows: EXPORT_PROBE_ROWS });
  io.stdout.write(renderProbe(outcome));
  const problem = probeProblem(outcome.result);
  if (problem === undefined) return EXIT.ok;
  io.stderr.write(`raiden: the export is written, but ${problem}: do not train on it as it is\n`);
  return EXIT.failure;
}

interface OpenedRun {
  readonly source: ExportSource;
  close(): void;
}

function linesOf(stream: Readable): AsyncIterable<string> {
  return createInterface({ input: stream, crlfDelay: Infinity });
}

async function openLocalRun(directory: string): Promise<OpenedRun> {
  const isDirectory = await stat(directory).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDirectory) throw new UsageError(`--run ${directory} is not a directory: pass the run directory of raiden generate`);
  const [{ LocalRunStore }, { localRewritePending }] = await Promise.all([
    import('../store/local-run-store.ts'),
    import('../store/local-run-rewrite.ts'),
  ]);
  await refuseChangingRun(
    {
      location: directory,
      lease: await LocalRunStore.open(directory),
      rewritePending: () => localRewritePending(directory),
    },
    processWriter('raiden export'),
    {
      writer: `wait for it to finish, then export (its train.json is rewritten at its end); if that process no longer runs (a copy from another machine), delete ${join(directory, WRITER_LEASE)}`,
      swap: `run raiden reverify --run ${directory} again to finish it, then export`,
    },
  );
  const path = (name: string) => join(directory, name);
  const exists = (name: string) =>
    stat(path(name)).then(
      (s) => s.isFile(),
      () => false,
    );
  const source: ExportSource = {
    location: directory.endsWith('/') ? directory : `${directory}/`,
    // Like S3RunStore.readJson: a document that is missing or not JSON is not there.
    readJson: async <T>(name: string) => {
      try {
        return JSON.parse(await readFile(path(name), 'utf8')) as T;
      } catch {
        return undefined;
      }
    },
    readLines: async (name) => ((await exists(name)) ? linesOf(createReadStream(path(name))) : undefined),
  };
  return { source, close: () => undefined };
}

/**
 * Refuses a run that is changing (refuseRunInChange) with what to do about it: a live writer's train.json is
 * the one of its last invocation until it ends, and an interrupted reverify left half of its files new.
 */
async function refuseChangingRun(
  run: RunChangeProbe,
  judge: Pick<RunWriter, 'isActive'>,
  advice: { readonly writer: string; readonly swap: string },
): Promise<void> {
  try {
    await refuseRunInChange(run, judge);
  } catch (error) {
    if (!(error instanceof RunInChangeError)) throw error;
    const { change } = error;
    throw new UsageError(
      change.kind === 'writer'
        ? `--run ${printable(run.location)} is being written by ${printable(String(change.holder.writer))} since ${printable(String(change.holder.claimed_at))}: ${advice.writer}`
        : `--run ${printable(run.location)} holds the swap of an interrupted raiden reverify: ${advice.swap}`,
    );
  }
}

async function openS3Run(flags: ExportFlags, deps: ExportDependencies): Promise<OpenedRun> {
  const location = parseS3Uri(flags.run);
  if (location === undefined || location.key.replace(/\/+$/u, '') === '')
    throw new UsageError(`--run ${flags.run} is not a run's S3 prefix: write s3://<outputs bucket>/runs/<run id>`);
  const prefix = `${location.key.replace(/\/+$/u, '')}/`;
  const [{ S3Client }, { S3RunStore }, { s3RewritePending }] = await Promise.all([
    import('@aws-sdk/client-s3'),
    import('../store/s3-run-store.ts'),
    import('../store/s3-run-rewrite.ts'),
  ]);
  const client = deps.s3 ?? new S3Client(flags.region !== undefined ? { region: flags.region } : {});
  const store = new S3RunStore({ client, bucket: location.bucket, prefix });
  try {
    await refuseChangingRun(
      { location: store.location, lease: store, rewritePending: () => s3RewritePending({ client, bucket: location.bucket, prefix }) },
      s3RunWriter('raiden export'),
      {
        writer: 'wait for it to end (or stop it), then export: its train.json is rewritten at its end',
        swap: `run raiden reverify --run ${flags.run} again to finish it, then export`,
      },
    );
  } catch (error) {
    if (deps.s3 === undefined) client.destroy();
    throw error;
  }
  const source: ExportSource = {
    location: store.location,
    readJson: (name) => store.readJson(name),
    readLines: (name) => store.readLines(name),
  };
  return {
    source,
    close: () => {
      if (deps.s3 === undefined) client.destroy();
    },
  };
}

/** Registers `raiden export` on the program. */
export function addExportCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('export')
    .description('write a finished run as training files for verl, TRL, EasyR1 or SFT, with a matching reward function and a dataset card')
    .requiredOption('--run <dir|s3 uri>', 'run directory of raiden generate, or s3://<outputs bucket>/runs/<run id>')
    .addOption(new Option('--format <format>', 'trainer layout').choices(EXPORT_FORMATS).makeOptionMandatory())
    .requiredOption(
      '--out <dir>',
      'directory for the export: new, empty or an earlier export (replaced as a whole); a directory of other files is refused',
    )
    .addOption(new Option('--region <region>', 'AWS region of the bucket (default: AWS_REGION, then the profile)').env('AWS_REGION'))
    .addOption(
      new Option(
        '--tokenizer <name>',
        "whose tokens the card's prompt lengths and training recipes count ('estimate': no tokenizer, a stated estimate)",
      )
        .choices(TOKENIZERS)
        .default(DEFAULT_TOKENIZER),
    )
    .option('--license <id>', "the dataset card's license, a Hugging Face license identifier such as cc-by-4.0", DEFAULT_LICENSE)
    .option('--no-probe', 'skip the reward probe (raiden probe-reward) that checks the new export pays no hack')
    .action(async (opts: Record<string, unknown>) => {
      setExit(
        await runExport(
          {
            run: opts.run as string,
            format: opts.format as ExportFormat,
            out: opts.out as string,
            region: opts.region as string | undefined,
            tokenizer: opts.tokenizer as TokenizerName,
            license: opts.license as string,
            probe: opts.probe as boolean,
          },
          io,
        ),
      );
    });
}
