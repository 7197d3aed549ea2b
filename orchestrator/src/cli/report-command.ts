/** `raiden report --run DIR|s3://bucket/runs/ID`: rebuilds a run's report.html from its files. */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { Option, type Command } from 'commander';
import { RUN_FILES } from '../contract/run-layout.ts';
import { parseS3Uri } from '../contract/s3-uri.ts';
import type { RunStore } from '../core/ports/run-store.ts';
import { writeReportHtml } from '../core/report/report-html.ts';
import { LocalRunStore } from '../store/local-run-store.ts';
import type { CliIo } from './cli-io.ts';
import { loadPricesFlag } from './run-inputs.ts';
import { EXIT, UsageError } from './usage-error.ts';

export interface ReportFlags {
  /** A run directory, or a run's S3 prefix. */
  readonly run: string;
  readonly priceFile?: string | undefined;
  readonly region?: string | undefined;
}

/** What tests replace: the S3 client (a local S3 server). */
export interface ReportDependencies {
  readonly s3?: S3Client;
}

export async function runReport(flags: ReportFlags, io: CliIo, deps: ReportDependencies = {}): Promise<number> {
  const prices = await loadPricesFlag(flags.priceFile);
  const opened = flags.run.startsWith('s3://') ? await openS3Run(flags, deps) : await openLocalRun(flags.run);
  try {
    // A workflow run bills every GPU instance of its plan; a local run has one endpoint set.
    const plan = await opened.store.readJson<{ readonly instances?: unknown }>(RUN_FILES.plan);
    const sglangInstances = typeof plan?.instances === 'number' && plan.instances > 0 ? plan.instances : 1;
    const bytes = await writeReportHtml(opened.store, { prices, sglangInstances });
    io.stdout.write(`report.html written to ${opened.target} (${Math.ceil(bytes / 1024).toLocaleString('en-US')} KiB)\n`);
    return EXIT.ok;
  } finally {
    opened.close();
  }
}

interface OpenedRun {
  readonly store: RunStore;
  /** Where report.html goes, as the user would write it. */
  readonly target: string;
  close(): void;
}

async function openLocalRun(directory: string): Promise<OpenedRun> {
  const isDirectory = await stat(directory).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDirectory) throw new UsageError(`--run ${directory} is not a directory: pass the run directory of raiden generate`);
  const hasRunFiles = await Promise.all(
    [RUN_FILES.samples, RUN_FILES.rejects, RUN_FILES.report, RUN_FILES.events].map((name) =>
      stat(join(directory, name)).then(
        () => true,
        () => false,
      ),
    ),
  );
  if (!hasRunFiles.includes(true))
    throw new UsageError(
      `--run ${directory} holds no samples.jsonl, rejects.jsonl, report.json or events.jsonl: pass the run directory of raiden generate`,
    );
  const store = await LocalRunStore.open(directory);
  return { store, target: join(directory, RUN_FILES.reportHtml), close: () => store.close() };
}

async function openS3Run(flags: ReportFlags, deps: ReportDependencies): Promise<OpenedRun> {
  const location = parseS3Uri(flags.run);
  if (location === undefined || location.key.replace(/\/+$/u, '') === '')
    throw new UsageError(`--run ${flags.run} is not a run's S3 prefix: write s3://<outputs bucket>/runs/<run id>`);
  const prefix = `${location.key.replace(/\/+$/u, '')}/`;
  const [{ S3Client }, { S3RunStore }] = await Promise.all([import('@aws-sdk/client-s3'), import('../store/s3-run-store.ts')]);
  const client = deps.s3 ?? new S3Client(flags.region !== undefined ? { region: flags.region } : {});
  const parts = new S3RunStore({ client, bucket: location.bucket, prefix });
  const finished = (await parts.readJson(RUN_FILES.report)) !== undefined;
  if (!finished && (await parts.readJson(RUN_FILES.plan)) === undefined)
    throw new UsageError(
      `${flags.run} holds no report.json or plan.json: pass the S3 prefix of a run, s3://<outputs bucket>/runs/<run id>`,
    );
  // Finalize writes report.json after samples.jsonl and rejects.jsonl: a finished run is read from those, one GET each.
  const store = finished ? new S3RunStore({ client, bucket: location.bucket, prefix, readFrom: 'jsonl' }) : parts;
  return {
    store,
    target: `s3://${location.bucket}/${prefix}${RUN_FILES.reportHtml}`,
    close: () => {
      if (deps.s3 === undefined) client.destroy();
    },
  };
}

/** Registers `raiden report` on the program. */
export function addReportCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('report')
    .description('rebuild report.html (charts, cost, coverage, sample browser) from a run directory or a run in S3')
    .requiredOption('--run <dir|s3 uri>', 'run directory of raiden generate, or s3://<outputs bucket>/runs/<run id>')
    .option('--price-file <path>', 'JSON price overrides merged over the built-in price table')
    .addOption(new Option('--region <region>', 'AWS region of the bucket (default: AWS_REGION, then the profile)').env('AWS_REGION'))
    .action(async (opts: Record<string, unknown>) => {
      setExit(
        await runReport(
          {
            run: opts.run as string,
            priceFile: opts.priceFile as string | undefined,
            region: opts.region as string | undefined,
          },
          io,
        ),
      );
    });
}
