/**
 * `raiden start`, `raiden status` and `raiden teardown`: the deployed workflow driven from a terminal.
 * The state machine is found by its fixed name; its tags say where profiles go and where runs land.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { AutoScalingClient, type AutoScalingGroup } from '@aws-sdk/client-auto-scaling';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  DescribeExecutionCommand,
  DescribeMapRunCommand,
  ListExecutionsCommand,
  ListMapRunsCommand,
  ListStateMachinesCommand,
  ListTagsForResourceCommand,
  SFNClient,
  StartExecutionCommand,
  type DescribeExecutionCommandOutput,
} from '@aws-sdk/client-sfn';
import { INPUTS_BUCKET_TAG, OUTPUTS_BUCKET_TAG, PROJECT_TAG, stateMachineName } from '../contract/deployed-names.ts';
import { PARTS, RUN_FILES, runKey, runPrefix } from '../contract/run-layout.ts';
import { newCounters } from '../core/run/generation-run.ts';
import { liveCost, type LiveCost } from '../core/report/live-cost.ts';
import { DEFAULT_PRICES } from '../core/report/model-prices.ts';
import { addEventUsage, streamRunEvents } from '../core/report/run-events.ts';
import type { UsageLedger } from '../core/report/run-cost.ts';
import { s3Uri } from '../contract/s3-uri.ts';
import type { FinalizeOutput, PlanProgress } from '../contract/workflow-payloads.ts';
import { sha256 } from '../core/run/run-manifest.ts';
import { parseWorkflowSpec, renderProblems, RunSpecError, type RunField } from '../core/run/run-spec.ts';
import { projectFleets, scaleGroupToZero } from '../fleet/fleet.ts';
import { isAwsRegion } from '../llm/bedrock-settings.ts';
import { S3RunStore } from '../store/s3-run-store.ts';
import type { CliIo } from './cli-io.ts';
import { printable } from './terminal-text.ts';
import { formatDuration, formatUsd, textTable } from './text-table.ts';
import { EXIT, UsageError } from './usage-error.ts';

export interface AwsTarget {
  readonly region?: string | undefined;
  readonly stackPrefix: string;
}

export interface StartFlags extends AwsTarget {
  readonly profiles: string;
  /** Workflow input fields given on the command line; the rest get the workflow's defaults. */
  readonly input: Record<string, unknown>;
  /** The flag that set each input field, to name it in errors. */
  readonly flagOf: (field: RunField) => string;
}

interface Workflow {
  readonly sfn: SFNClient;
  readonly arn: string;
  readonly region: string;
  readonly inputsBucket: string;
  readonly outputsBucket: string;
}

const clientConfig = (target: AwsTarget) => (target.region ? { region: target.region } : {});

const REGION_SOURCES = 'from --region, AWS_REGION or your profile';

/** The client's region, from --region, AWS_REGION or the profile; none at all, or not a region name, is a usage error, not a crash. */
async function regionOf(client: { config: { region: () => Promise<string> } }): Promise<string> {
  let region: string;
  try {
    region = await client.config.region();
  } catch (error) {
    const refused = /region="([^"]*)"/u.exec((error as Error).message)?.[1];
    if (refused === undefined)
      throw new UsageError('no AWS region: pass --region, set AWS_REGION, or configure one for your profile (aws configure)');
    region = refused;
  }
  if (!isAwsRegion(region))
    throw new UsageError(`${JSON.stringify(printable(region))} (${REGION_SOURCES}) is not an AWS region name: give one such as us-east-1`);
  return region;
}

export function consoleUrl(region: string, executionArn: string): string {
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

async function findWorkflow(target: AwsTarget): Promise<Workflow> {
  const sfn = new SFNClient(clientConfig(target));
  const name = stateMachineName(target.stackPrefix);
  const region = await regionOf(sfn);
  let arn: string | undefined;
  let nextToken: string | undefined;
  try {
    do {
      const page = await sfn.send(new ListStateMachinesCommand({ nextToken }));
      arn = page.stateMachines?.find((machine) => machine.name === name)?.stateMachineArn;
      nextToken = page.nextToken;
    } while (arn === undefined && nextToken !== undefined);
  } catch (error) {
    throw awsUsageError(error, region);
  }
  if (arn === undefined) {
    throw new UsageError(
      `no state machine ${name} in ${region}: deploy the stacks first (npx raiden deploy), or pass --region / --stack-prefix for another deployment`,
    );
  }
  const { tags } = await sfn.send(new ListTagsForResourceCommand({ resourceArn: arn }));
  const tag = (key: string) => tags?.find((t) => t.key === key)?.value;
  const inputsBucket = tag(INPUTS_BUCKET_TAG);
  const outputsBucket = tag(OUTPUTS_BUCKET_TAG);
  if (!inputsBucket || !outputsBucket)
    throw new UsageError(
      `state machine ${arn} lacks the ${INPUTS_BUCKET_TAG} / ${OUTPUTS_BUCKET_TAG} tags: redeploy the orchestrator stack (npx raiden deploy)`,
    );
  return { sfn, arn, region, inputsBucket, outputsBucket };
}

/** Socket errors that mean AWS was never reached: most often a region that does not exist (no such endpoint host). */
const UNREACHABLE = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET']);

function awsUsageError(error: unknown, region: string): Error {
  const { name = '', code = '', message = '' } = error as { name?: string; code?: string; message?: string };
  if (UNREACHABLE.has(code) || name === 'TimeoutError')
    return new UsageError(
      `cannot reach AWS in ${region} (${printable(message || code)}): check that ${region} (${REGION_SOURCES}) is a region that exists, such as us-east-1, and that this machine is online`,
    );
  if (/CredentialsProviderError|ExpiredToken|UnrecognizedClient|InvalidSignature/u.test(name)) {
    return new UsageError(`no usable AWS credentials for ${region} (${name}): run aws configure / aws sso login, or set AWS_PROFILE`);
  }
  if (name === 'AccessDeniedException')
    return new UsageError(`access denied in ${region}: the credentials need states:ListStateMachines and states:StartExecution`);
  return error as Error;
}

export async function runStart(flags: StartFlags, io: CliIo): Promise<number> {
  // The local file first: a wrong path is the user's to fix before credentials or a deployment matter.
  const local = flags.profiles.startsWith('s3://') ? undefined : await readLocalProfiles(flags.profiles);
  const workflow = await findWorkflow(flags);
  const profiles = local === undefined ? flags.profiles : await uploadProfiles(flags, local, workflow, io);
  const input = { profiles, ...flags.input };
  try {
    parseWorkflowSpec(input);
  } catch (error) {
    if (error instanceof RunSpecError) throw new UsageError(`the run input is invalid:\n${renderProblems(error.problems, flags.flagOf)}`);
    throw error;
  }
  // Every execution gets a name of its own: Step Functions refuses a name used in the last 90 days, so a
  // resume (the same runId again) must not reuse the earlier execution's. The runId travels in the input.
  const stamp = `${new Date()
    .toISOString()
    .replace(/[-:]|\.\d+Z$/gu, '')
    .replace('T', '-')}-${randomBytes(3).toString('hex')}`;
  const runId = flags.input.runId as string | undefined;
  const name = runId === undefined ? `run-${stamp}` : `${runId.slice(0, 80 - stamp.length - 1)}-${stamp}`;
  const { executionArn } = await workflow.sfn.send(
    new StartExecutionCommand({ stateMachineArn: workflow.arn, name, input: JSON.stringify(input) }),
  );
  io.stdout.write(
    [
      `Started run ${name}`,
      `  execution: ${executionArn}`,
      `  console:   ${consoleUrl(workflow.region, executionArn ?? '')}`,
      `  dataset:   ${s3Uri(workflow.outputsBucket, runPrefix(runId ?? name))}`,
      `Follow it with: npx raiden status ${name}`,
      '',
    ].join('\n'),
  );
  return EXIT.ok;
}

function readLocalProfiles(path: string): Promise<Buffer> {
  return readFile(path).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(
      `cannot read --profiles ${path}: ${error.code === 'ENOENT' ? 'no such file' : error.message}; give a local file or an s3:// URL`,
    );
  });
}

/** Uploads a local profile file to the inputs bucket, named by its content so a rerun reuses it. */
async function uploadProfiles(flags: StartFlags, bytes: Buffer, workflow: Workflow, io: CliIo): Promise<string> {
  const extension = extname(flags.profiles);
  const key = `profiles/${basename(flags.profiles, extension)}-${sha256(bytes).slice(0, 12)}${extension}`;
  await new S3Client(clientConfig(flags)).send(new PutObjectCommand({ Bucket: workflow.inputsBucket, Key: key, Body: bytes }));
  io.stderr.write(`raiden: uploaded ${flags.profiles} to s3://${workflow.inputsBucket}/${key}\n`);
  return `s3://${workflow.inputsBucket}/${key}`;
}

export interface StatusFlags extends AwsTarget {
  readonly execution?: string | undefined;
  /** Seconds between two refreshes. */
  readonly interval: number;
  /** Print one JSON document (status, progress, cost) and exit, for scripts. */
  readonly json?: boolean;
}

interface Progress {
  readonly batchesDone: number;
  readonly batchesTotal: number;
  readonly samples: number;
  readonly slots: number;
  /** Cost so far and projected at completion, from the run's events and the price table. */
  readonly cost?: LiveCost | undefined;
}

/** How long a presigned link to report.html stays valid. */
const REPORT_LINK_SECONDS = 24 * 3600;

export async function runStatus(flags: StatusFlags, io: CliIo): Promise<number> {
  const workflow = await findWorkflow(flags);
  const executionArn = await resolveExecution(workflow, flags.execution);
  const s3 = new S3Client(clientConfig(flags));
  const started = Date.now();
  let lastLine = '';
  for (;;) {
    const execution = await workflow.sfn.send(new DescribeExecutionCommand({ executionArn }));
    const runId = runIdOf(execution);
    const elapsedSeconds = (Date.now() - (execution.startDate?.getTime() ?? started)) / 1000;
    const progress = await readProgress(workflow, s3, executionArn, runId, elapsedSeconds);
    if (flags.json) {
      io.stdout.write(`${JSON.stringify(await statusDocument(execution, workflow, s3, runId, progress), null, 2)}\n`);
      return execution.status === 'RUNNING' || execution.status === 'SUCCEEDED' ? EXIT.ok : EXIT.failure;
    }
    const line = progressLine(
      execution.status ?? 'UNKNOWN',
      progress,
      (Date.now() - (execution.startDate?.getTime() ?? started)) / 1000,
      io.stderr.isTTY === true,
    );
    if (io.stderr.isTTY) io.stderr.write(`\r${line}${' '.repeat(Math.max(0, lastLine.length - line.length))}`);
    else if (line !== lastLine) io.stderr.write(`${line}\n`);
    lastLine = line;
    if (execution.status !== 'RUNNING') {
      if (io.stderr.isTTY) io.stderr.write('\n');
      return reportEnd(execution, workflow, runId, io, await reportLink(s3, workflow, runId));
    }
    if (io.stopRequested?.()) return EXIT.ok;
    await new Promise((resolve) => setTimeout(resolve, flags.interval * 1000));
  }
}

async function resolveExecution(workflow: Workflow, execution: string | undefined): Promise<string> {
  if (execution?.startsWith('arn:')) return execution;
  if (execution !== undefined) return `${workflow.arn.replace(':stateMachine:', ':execution:')}:${execution}`;
  const { executions } = await workflow.sfn.send(new ListExecutionsCommand({ stateMachineArn: workflow.arn, maxResults: 1 }));
  const latest = executions?.[0]?.executionArn;
  if (latest === undefined)
    throw new UsageError(`no run of ${workflow.arn} yet: start one with npx raiden start --profiles examples/profiles.en.jsonl`);
  return latest;
}

function runIdOf(execution: DescribeExecutionCommandOutput): string {
  try {
    const input = JSON.parse(execution.input ?? '{}') as { runId?: unknown };
    if (typeof input.runId === 'string') return input.runId;
  } catch {
    // The console accepts any JSON; Plan reports a bad input itself.
  }
  return execution.name ?? '';
}

async function readProgress(
  workflow: Workflow,
  s3: S3Client,
  executionArn: string,
  runId: string,
  elapsedSeconds: number,
): Promise<Progress> {
  const store = new S3RunStore({ client: s3, bucket: workflow.outputsBucket, prefix: runPrefix(runId) });
  const plan = await store.readJson<PlanProgress & { instances?: number }>(RUN_FILES.plan).catch(() => undefined);
  const samples = plan === undefined ? 0 : await store.countObjects(PARTS.samples).catch(() => 0);
  // Batches write their events every few hundred records or a minute, so the cost trails by up to that.
  const usage = await eventUsage(store);
  const cost =
    plan === undefined
      ? undefined
      : liveCost({
          counters: { ...newCounters(plan.slots.total, 0), accepted: samples },
          usage,
          prices: DEFAULT_PRICES,
          elapsedSeconds,
          sglangInstances: plan.instances ?? 1,
        });
  let batchesDone = 0;
  try {
    const mapRun = (await workflow.sfn.send(new ListMapRunsCommand({ executionArn })))?.mapRuns?.[0]?.mapRunArn;
    if (mapRun !== undefined) {
      const counts = (await workflow.sfn.send(new DescribeMapRunCommand({ mapRunArn: mapRun })))?.itemCounts;
      batchesDone = (counts?.succeeded ?? 0) + (counts?.failed ?? 0);
    }
  } catch {
    // Before the Distributed Map starts there is no Map Run: no batch is done yet.
  }
  return { batchesDone, batchesTotal: plan?.batches.total ?? 0, samples, slots: plan?.slots.total ?? 0, cost };
}

/** `raiden status --json`: what the progress line shows, as data. */
async function statusDocument(
  execution: DescribeExecutionCommandOutput,
  workflow: Workflow,
  s3: S3Client,
  runId: string,
  progress: Progress,
) {
  return {
    run_id: runId,
    execution_arn: execution.executionArn,
    status: execution.status,
    started_at: execution.startDate?.toISOString() ?? null,
    stopped_at: execution.stopDate?.toISOString() ?? null,
    batches: { done: progress.batchesDone, total: progress.batchesTotal },
    samples: { accepted: progress.samples, slots: progress.slots },
    cost:
      progress.cost === undefined
        ? null
        : {
            usd_so_far: round2(progress.cost.usdSoFar),
            projected_usd: progress.cost.projectedUsd === undefined ? null : round2(progress.cost.projectedUsd),
            unpriced_models: progress.cost.unpriced,
          },
    dataset: s3Uri(workflow.outputsBucket, runPrefix(runId)),
    report_html: execution.status === 'RUNNING' ? null : await reportLink(s3, workflow, runId),
    console: consoleUrl(workflow.region, execution.executionArn ?? ''),
  };
}

const round2 = (value: number) => Math.round(value * 100) / 100;

/** A presigned HTTPS link to the run's report.html, when Finalize wrote one; undefined otherwise. */
async function reportLink(s3: S3Client, workflow: Workflow, runId: string): Promise<string | undefined> {
  const key = runKey(runId, RUN_FILES.reportHtml);
  try {
    await s3.send(new HeadObjectCommand({ Bucket: workflow.outputsBucket, Key: key }));
  } catch {
    return undefined;
  }
  // The link is a convenience: without credentials that can sign (a role's session ended) there is none.
  return getSignedUrl(s3, new GetObjectCommand({ Bucket: workflow.outputsBucket, Key: key, ResponseContentType: 'text/html' }), {
    expiresIn: REPORT_LINK_SECONDS,
  }).catch(() => undefined);
}

export function progressLine(status: string, progress: Progress, elapsedSeconds: number, bar: boolean): string {
  const width = 24;
  const fraction = progress.slots > 0 ? Math.min(1, progress.samples / progress.slots) : 0;
  const filled = Math.round(fraction * width);
  const cost =
    progress.cost === undefined
      ? ''
      : ` | cost ${formatUsd(progress.cost.usdSoFar)}${progress.cost.projectedUsd === undefined ? '' : `, ~${formatUsd(progress.cost.projectedUsd)} at completion`}`;
  const stats = `${status} | batches ${progress.batchesDone}/${progress.batchesTotal || '?'} | samples accepted ${progress.samples}/${progress.slots || '?'}${cost} | ${formatDuration(elapsedSeconds)}`;
  return bar ? `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${stats}` : `[raiden] ${stats}`;
}

function reportEnd(
  execution: DescribeExecutionCommandOutput,
  workflow: Workflow,
  runId: string,
  io: CliIo,
  link: string | undefined,
): number {
  if (execution.status === 'SUCCEEDED') {
    const output = JSON.parse(execution.output ?? '{}') as Partial<FinalizeOutput>;
    io.stdout.write(
      `${textTable([
        ['run', runId],
        ['status', output.status ?? 'unknown'],
        ['samples accepted', `${output.accepted ?? 0} of ${output.slots ?? 0} slots`],
        ['empty slots', output.emptySlots ?? 0],
        ['failed batches', output.failedBatches ?? 0],
      ])}\n\nDataset and report.json in ${s3Uri(workflow.outputsBucket, runPrefix(runId))}\n${link === undefined ? '' : `report.html (link valid 24 h): ${link}\n`}`,
    );
    return output.status === 'complete' ? EXIT.ok : EXIT.incomplete;
  }
  io.stderr.write(
    `raiden: run ${runId} ${execution.status}${execution.error ? `: ${execution.error}` : ''}${execution.cause ? `\n  ${execution.cause}` : ''}\n` +
      `  details: ${consoleUrl(workflow.region, execution.executionArn ?? '')}\n` +
      `  samples accepted so far are kept in ${s3Uri(workflow.outputsBucket, runPrefix(runId))}; start again with "runId": "${runId}" to resume\n`,
  );
  return EXIT.failure;
}

/** The emergency stop: every auto-scaling group of this app (any stack prefix) to zero, now. */
export async function runTeardown(flags: { readonly region?: string | undefined }, io: CliIo): Promise<number> {
  const client = new AutoScalingClient(flags.region ? { region: flags.region } : {});
  const region = await regionOf(client);
  let groups: AutoScalingGroup[];
  try {
    groups = await projectFleets(client);
  } catch (error) {
    throw awsUsageError(error, region);
  }
  if (groups.length === 0) {
    io.stdout.write(
      `No auto-scaling group tagged ${PROJECT_TAG.key}=${PROJECT_TAG.value} in ${region}: nothing to stop (pass --region for another region).\n`,
    );
    return EXIT.ok;
  }
  const rows: (string | number)[][] = [['auto-scaling group', 'instances before', 'desired now']];
  for (const group of groups) {
    const name = group.AutoScalingGroupName ?? '';
    await scaleGroupToZero(client, group);
    rows.push([name, group.Instances?.length ?? 0, 0]);
  }
  io.stdout.write(
    `${textTable(rows)}\n\nEvery GPU fleet of raiden-datagen in ${region} is scaling to zero; instances terminate within minutes.\n`,
  );
  return EXIT.ok;
}

/** Token usage from a run's events, streamed; an event log that cannot be read counts as none, as before it exists. */
async function eventUsage(store: S3RunStore): Promise<UsageLedger> {
  const usage: UsageLedger = {};
  try {
    for await (const event of streamRunEvents(store)) addEventUsage(usage, event);
    return usage;
  } catch {
    return {};
  }
}
