/**
 * `raiden reverify --run DIR|s3://bucket/runs/ID`: applies the current verification rules to every output
 * the run holds, accepted and rejected, without a model call; rewrites samples, rejects, splits, stats and
 * report as one swap (a crash leaves the old run); then fills the slots left without a sample by
 * generating through the response cache, the way `raiden generate` resumes a run.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { Option, type Command } from 'commander';
import { ENV } from '../contract/deployed-names.ts';
import { RESPONSE_CACHE_PREFIX } from '../contract/response-cache.ts';
import { RUN_FILES } from '../contract/run-layout.ts';
import { parseS3ObjectUri, parseS3Uri } from '../contract/s3-uri.ts';
import { WORKERS_PER_IN_FLIGHT_REQUEST } from '../core/run/generation-run.ts';
import type { Prices } from '../core/report/model-prices.ts';
import type { BackendFactory } from '../core/ports/backend-factory.ts';
import type { ResponseCache } from '../core/ports/response-cache.ts';
import type { RunRewrite } from '../core/ports/run-rewrite.ts';
import type { RunStore } from '../core/ports/run-store.ts';
import { claimWriter, releaseWriter, RunBusyError } from '../core/run/run-manifest.ts';
import { claimPreparedRun, prepareRun, type RunPlan } from '../core/run/prepare-run.ts';
import { writeReportHtml } from '../core/report/report-html.ts';
import { carriedReportSections, reverifyRun, type ReverifySummary } from '../core/run/reverify.ts';
import { resumeCounters, existingSamples, finishRun, generateAllPhases } from '../core/run/run-pipeline.ts';
import type { RunSpec } from '../core/run/run-spec.ts';
import type { CliIo } from './cli-io.ts';
import { connectLocalBackends, localBackendSettings } from './local-backends.ts';
import { collect, integerAtLeast } from './option-parsers.ts';
import { processWriter } from './process-writer.ts';
import { ProgressDisplay } from './progress-display.ts';
import { s3RunWriter } from './s3-run-writer.ts';
import { addCacheOptions, openCacheOption, warnCacheErrors } from './response-cache-options.ts';
import { reportRepairs } from './generate-command.ts';
import { openRunDirectory } from './run-directory.ts';
import { loadPricesFlag, loadSeedData } from './run-inputs.ts';
import { withFlagErrors } from './run-spec-flags.ts';
import { printable } from './terminal-text.ts';
import { textTable } from './text-table.ts';
import { EXIT, UsageError } from './usage-error.ts';

export interface ReverifyFlags {
  /** A run directory, or a run's S3 prefix. */
  readonly run: string;
  /** Generate for the slots left without a sample (--no-fill: re-verify only). */
  readonly fill: boolean;
  /** Servers for the fill, instead of the run's (plan.json keeps no credentials). */
  readonly endpoints?: readonly string[] | undefined;
  readonly apiKey?: string | undefined;
  /** The profile file, when the run's (as plan.json names it) is not where it was. */
  readonly profiles?: string | undefined;
  readonly concurrency?: number | undefined;
  readonly region?: string | undefined;
  /** --cache-dir and --no-cache, as commander parsed them. */
  readonly cacheOptions: Record<string, unknown>;
}

/** What tests replace: how backends are built, the S3 client, the clock. */
export interface ReverifyDependencies {
  readonly createBackend?: BackendFactory;
  readonly s3?: S3Client;
  readonly now?: () => Date;
}

/** A run opened for reverify, wherever it lives. */
interface RunTarget {
  /** The run's store as it is; after the swap, the run's new files. */
  readonly live: RunStore;
  readonly location: string;
  readProfiles(location: string): Promise<Uint8Array>;
  /** The cache the run's answers are in: the machine's for a directory, the deployment's bucket for S3. */
  cache(): Promise<ResponseCache | undefined>;
  openRewrite(): Promise<RunRewrite>;
  /** The store the fill appends to, after the swap. */
  storeForFill(): Promise<RunStore>;
  /** The store finishRun reads after the fill (S3: its parts consolidated into samples.jsonl and rejects.jsonl first). */
  storeForFinish(): Promise<RunStore>;
  refreshReportHtml(store: RunStore, prices: Prices): Promise<void>;
  close(): Promise<void>;
}

export async function runReverify(flags: ReverifyFlags, io: CliIo, deps: ReverifyDependencies = {}): Promise<number> {
  const now = deps.now ?? (() => new Date());
  const target = flags.run.startsWith('s3://') ? await openS3Target(flags, io, deps) : await openLocalTarget(flags, io);
  try {
    const plan = await target.live.readJson<RunPlan>(RUN_FILES.plan);
    if (plan === undefined)
      throw new UsageError(
        `--run ${flags.run} has no ${RUN_FILES.plan}, which says how the run was made: runs of an older raiden lack it; run the same raiden generate command once more (it resumes the run and writes it), then reverify`,
      );
    const spec: RunSpec = {
      ...plan.spec,
      ...(flags.endpoints !== undefined && flags.endpoints.length > 0 ? { endpoints: [...flags.endpoints] } : {}),
      ...(flags.profiles !== undefined ? { profiles: flags.profiles } : {}),
      ...(flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {}),
    };
    const bytes = await target.readProfiles(spec.profiles);
    const prepared = await withFlagErrors(() =>
      prepareRun(spec, { bytes, location: spec.profiles }, { runId: plan.runId, startedAt: now() }),
    );
    // The same check as a resume: a changed profile file would verify the samples against other profiles.
    await withFlagErrors(() => claimPreparedRun(target.live, prepared));
    const prices = await loadPricesFlag(spec.priceFile);
    const cache = await target.cache();
    const carried = carriedReportSections(await target.live.readJson<Record<string, unknown>>(RUN_FILES.report));

    const rewrite = await target.openRewrite();
    let checked;
    try {
      checked = await reverifyRun({ prepared, current: target.live, staged: rewrite.staged, outputs: cache, now });
      await finishRun({
        plan: prepared.plan,
        store: rewrite.staged,
        counters: checked.counters,
        emptySlots: checked.emptySlots,
        prices,
        sglangInstances: 0,
        concurrency: 1,
        now,
        extraSections: { ...carried, reverify: checked.summary },
      });
      await rewrite.commit();
    } catch (error) {
      await rewrite.abandon().catch(() => undefined);
      throw error;
    }
    io.stdout.write(
      `${textTable(summaryRows(checked.summary))}\n\nRewritten in ${target.location}: samples, rejects, train, validation, dataset_stats and report\n`,
    );

    const open = checked.emptySlots.length;
    if (open === 0 || !flags.fill) {
      if (open > 0) io.stderr.write(`raiden: ${open} slots have no sample; run again without --no-fill to generate them\n`);
      return open === 0 ? EXIT.ok : EXIT.incomplete;
    }

    io.stderr.write(`raiden: generating ${open} slots left without a sample, through the response cache\n`);
    const store = await target.storeForFill();
    const create =
      deps.createBackend ??
      (await import('../llm/backend-factory.ts')).createBackendFactory({
        maxResponseBytes: spec.maxResponseBytes,
        stopRequested: io.stopRequested,
        preflight: true,
      });
    const backends = await connectLocalBackends(
      prepared,
      localBackendSettings(spec, flags.apiKey, prices, create, cache),
      '\nThe run is re-verified already; give --endpoint (and --api-key) for the fill, or --no-fill to skip it',
    );
    const existing = await existingSamples(store);
    const counters = resumeCounters(prepared, existing);
    const seedData = spec.seedData !== undefined ? await loadSeedData(spec.seedData) : undefined;
    const progress = new ProgressDisplay(counters, () => backends.all().reduce((sum, backend) => sum + backend.inFlight(), 0), io.stderr);
    progress.start();
    const fill = await generateAllPhases({
      prepared,
      store,
      backends,
      counters,
      existing,
      settings: {
        concurrency: spec.concurrency * WORKERS_PER_IN_FLIGHT_REQUEST,
        now,
        ...(io.stopRequested ? { shouldStop: io.stopRequested } : {}),
      },
      seedData,
      recordPlan: false,
    }).finally(() => progress.stop());
    const stoppedReason = fill.fatalError ?? (io.stopRequested?.() ? 'interrupted' : undefined);
    warnCacheErrors(backends.cacheStats()?.errors ?? 0, cache, io.stderr);
    const finished = await target.storeForFinish();
    const { report } = await finishRun({
      plan: prepared.plan,
      store: finished,
      counters,
      emptySlots: fill.emptySlots,
      prices,
      sglangInstances: 1,
      backends,
      concurrency: spec.concurrency,
      stoppedReason,
      now,
      extraSections: { ...carried, reverify: { ...checked.summary, filled: fill.newSamples } },
    });
    await target.refreshReportHtml(finished, prices);
    io.stdout.write(
      `${textTable([
        ['fill', 'value'],
        ['slots filled', fill.newSamples],
        ['model calls', counters.requests],
        ['answers from the cache', counters.cacheHits],
        ['slots still empty', fill.emptySlots.length],
        ['status', report.status],
      ])}\n`,
    );
    if (stoppedReason !== undefined) {
      io.stderr.write(`raiden: stopped early (${printable(stoppedReason)}); run the same command again to continue\n`);
      return EXIT.failure;
    }
    return fill.emptySlots.length === 0 ? EXIT.ok : EXIT.incomplete;
  } finally {
    await target.close();
  }
}

function summaryRows(summary: ReverifySummary): (string | number)[][] {
  return [
    ['reverify', 'value'],
    ['samples checked', summary.samples.checked],
    ['  kept', summary.samples.kept],
    ['  dropped', summary.samples.dropped],
    ...Object.entries(summary.samples.dropped_by_reason).map(([reason, count]) => [`    ${reason}`, count]),
    ['rejects checked', summary.rejects.checked],
    ['  revived as samples', summary.rejects.revived],
    ['  with a new reason', summary.rejects.reason_changed],
    ['  whole output no longer cached', summary.rejects.unverifiable],
    ['slots without a sample', summary.slots_without_sample],
    ['model calls', 0],
  ];
}

async function openLocalTarget(flags: ReverifyFlags, io: CliIo): Promise<RunTarget> {
  const directory = flags.run;
  const isRun = await stat(join(directory, RUN_FILES.manifest)).then(
    () => true,
    () => false,
  );
  if (!isRun) throw new UsageError(`--run ${directory} holds no ${RUN_FILES.manifest}: pass the run directory of raiden generate`);
  const opened = await openRunDirectory(directory, `--run ${directory}`, processWriter('raiden reverify'), io.stderr);
  const { LocalRunRewrite } = await import('../store/local-run-rewrite.ts');
  try {
    reportRepairs(await opened.store.repairFiles(), io);
  } catch (error) {
    await opened.release();
    throw error;
  }
  return {
    live: opened.store,
    location: directory,
    readProfiles: (path) =>
      readFile(path).catch((error: NodeJS.ErrnoException) => {
        throw new UsageError(
          `cannot read the run's profile file ${path} (${error.code ?? error.message}): give --profiles with its path (the same file; its checksum is checked)`,
        );
      }),
    cache: () => openCacheOption(flags.cacheOptions),
    openRewrite: () => LocalRunRewrite.open(directory),
    storeForFill: async () => {
      // Opened only now: its appends must go to the files the swap put in place.
      await opened.store.prepareAppends();
      return opened.store;
    },
    storeForFinish: async () => opened.store,
    refreshReportHtml: async (store, prices) => {
      const present = await stat(join(directory, RUN_FILES.reportHtml)).then(
        () => true,
        () => false,
      );
      if (present) await writeReportHtml(store, { prices, sglangInstances: 1 });
    },
    close: () => opened.release(),
  };
}

async function openS3Target(flags: ReverifyFlags, io: CliIo, deps: ReverifyDependencies): Promise<RunTarget> {
  const location = parseS3Uri(flags.run);
  if (location === undefined || location.key.replace(/\/+$/u, '') === '')
    throw new UsageError(`--run ${flags.run} is not a run's S3 prefix: write s3://<outputs bucket>/runs/<run id>`);
  const prefix = `${location.key.replace(/\/+$/u, '')}/`;
  const { bucket } = location;
  const [{ S3Client, GetObjectCommand }, { S3RunStore }, { S3RunRewrite, recoverS3Rewrite }, { S3ResponseCache }] = await Promise.all([
    import('@aws-sdk/client-s3'),
    import('../store/s3-run-store.ts'),
    import('../store/s3-run-rewrite.ts'),
    import('../store/s3-response-cache.ts'),
  ]);
  const endpoint = process.env[ENV.s3Endpoint];
  const client =
    deps.s3 ??
    new S3Client({
      ...(flags.region !== undefined ? { region: flags.region } : {}),
      ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    });
  const live = new S3RunStore({ client, bucket, prefix });
  const writer = s3RunWriter('raiden reverify');
  let claimed = false;
  const close = async () => {
    if (claimed) await releaseWriter(live, writer).catch(() => undefined);
    if (deps.s3 === undefined) client.destroy();
  };
  try {
    // The run's writer lease first, as raiden generate and the workflow take it: a reverify that swapped files
    // under a running execution would lose what that execution appends meanwhile.
    await claimWriter(live, writer).catch((error: unknown) => {
      if (!(error instanceof RunBusyError)) throw error;
      throw new UsageError(
        `--run ${flags.run} is being written by ${printable(error.holder.writer)} since ${printable(String(error.holder.claimed_at))}: wait for it to end (or stop it), then run raiden reverify again`,
      );
    });
    claimed = true;
    if ((await recoverS3Rewrite({ client, bucket, prefix })) === 'finished')
      io.stderr.write(`raiden: finished the swap an interrupted reverify left in ${flags.run}\n`);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    live,
    location: `s3://${bucket}/${prefix}`,
    async readProfiles(path) {
      const object = parseS3ObjectUri(path);
      if (object === undefined)
        return readFile(path).catch((error: NodeJS.ErrnoException) => {
          throw new UsageError(`cannot read --profiles ${path} (${error.code ?? error.message})`);
        });
      try {
        const body = await client.send(new GetObjectCommand({ Bucket: object.bucket, Key: object.key }));
        return await (body.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array()));
      } catch (error) {
        throw new UsageError(
          `cannot read the run's profile file ${path} (${(error as Error).name}): give --profiles with where it is now (the same file; its checksum is checked)`,
        );
      }
    },
    cache: async () => {
      // A directory named on purpose wins; otherwise the answers are where the workflow stored them.
      if (flags.cacheOptions.cache === false || flags.cacheOptions.cacheDir !== undefined) return openCacheOption(flags.cacheOptions);
      return new S3ResponseCache({ client, bucket, prefix: RESPONSE_CACHE_PREFIX });
    },
    openRewrite: () => S3RunRewrite.open({ client, bucket, prefix }),
    storeForFill: async () => live,
    storeForFinish: () => live.consolidate(),
    refreshReportHtml: async (store, prices) => {
      const plan = await live.readJson<{ readonly instances?: unknown }>(RUN_FILES.plan);
      await writeReportHtml(store, {
        prices,
        sglangInstances: typeof plan?.instances === 'number' && plan.instances > 0 ? plan.instances : 1,
      });
    },
    close,
  };
}

/** Registers `raiden reverify` on the program. */
export function addReverifyCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const command = program
    .command('reverify')
    .description(
      'apply the current verification rules to every output of a run (no model call), rewrite its files as one swap, then generate the slots that lost their sample, through the response cache',
    )
    .requiredOption('--run <dir|s3 uri>', 'run directory of raiden generate, or s3://<outputs bucket>/runs/<run id>')
    .option('--no-fill', 're-verify only: leave the slots without a sample empty')
    .option('--endpoint <url>', "SGLang server for the fill, instead of the run's; repeat for several", collect)
    .addOption(new Option('--api-key <key>', 'bearer token for the endpoints').env('RAIDEN_API_KEY'))
    .option('--profiles <path>', "the run's profile file, if it moved (its checksum must match the run's)")
    .option('--concurrency <n>', "requests in flight for the fill (default: the run's)", integerAtLeast(1))
    .addOption(new Option('--region <region>', 'AWS region of the bucket (default: AWS_REGION, then the profile)').env('AWS_REGION'));
  addCacheOptions(command).action(async (opts: Record<string, unknown>) => {
    setExit(
      await runReverify(
        {
          run: opts.run as string,
          fill: opts.fill as boolean,
          endpoints: opts.endpoint as string[] | undefined,
          apiKey: opts.apiKey as string | undefined,
          profiles: opts.profiles as string | undefined,
          concurrency: opts.concurrency as number | undefined,
          region: opts.region as string | undefined,
          cacheOptions: { cache: opts.cache, cacheDir: opts.cacheDir },
        },
        io,
      ),
    );
  });
}
