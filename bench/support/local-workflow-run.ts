/**
 * The scale scenario's workflow rows: the synthesized state machine run by the local workflow harness in a
 * child process (workflow-child.ts) against s3rver and the simulated SGLang server, each in a process of
 * its own, so the child's peak RSS and CPU are the orchestrator's handlers' alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { synthApp } from '../../test/support/cdk-app.ts';
import { LOCAL_S3_CREDENTIALS } from '../../test/support/local-s3.ts';
import { extractWorkflow } from '../../test/support/local-workflow.ts';
import type { WorkflowChildConfig, WorkflowChildResult } from './workflow-child.ts';
import { runJsonChild } from './run-child.ts';
import type { SimProcess } from './sim-process.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const CHILD = new URL('./workflow-child.ts', import.meta.url).pathname;
const S3_PROCESS = new URL('./s3-process.ts', import.meta.url).pathname;
const INPUTS = 'raiden-bench-inputs';
const OUTPUTS = 'raiden-bench-outputs';

export interface LocalWorkflow {
  /** One execution of `input` (its runId names the run), then Finalize alone again on the finished run. */
  run(input: { readonly runId: string } & Record<string, unknown>, profilesFile: string): Promise<WorkflowRun>;
  close(): Promise<void>;
}

export interface WorkflowRun {
  readonly workflow: WorkflowChildResult;
  readonly finalize: WorkflowChildResult;
}

/** Synthesizes the app once and starts the s3rver the runs share; `sim` answers every request. */
export async function startLocalWorkflow(workDir: string, sim: SimProcess, simModel: string): Promise<LocalWorkflow> {
  const app = synthApp();
  const workflow = extractWorkflow(app.stacks.orchestrator, app.orchestrator);
  mkdirSync(workDir, { recursive: true });
  const workflowFile = join(workDir, 'workflow.json');
  writeFileSync(workflowFile, JSON.stringify({ ...workflow, functions: [...workflow.functions] }));
  const s3 = await startS3Process(join(workDir, 's3rver'), [INPUTS, OUTPUTS]);
  const child = (config: Omit<WorkflowChildConfig, 'workflowFile' | 's3Endpoint' | 'outputsBucket' | 'simUrl' | 'simModel'>) =>
    runWorkflowChild({ ...config, workflowFile, s3Endpoint: s3.endpoint, outputsBucket: OUTPUTS, simUrl: sim.url, simModel });
  return {
    async run(input, profilesFile) {
      const key = `profiles/${input.runId}.jsonl`;
      await s3.client.send(new PutObjectCommand({ Bucket: INPUTS, Key: key, Body: readFileSync(profilesFile) }));
      const full = { ...input, profiles: `s3://${INPUTS}/${key}` };
      const workflowResult = await child({ mode: 'workflow', input: full });
      if (workflowResult.exitCode !== 0)
        throw new Error(`the local workflow of ${input.runId} ended with ${workflowResult.exitCode}: ${workflowResult.error ?? ''}`);
      const finalize = await child({ mode: 'finalize', input: { runId: input.runId } });
      if (finalize.exitCode !== 0) throw new Error(`Finalize of ${input.runId} ended with ${finalize.exitCode}: ${finalize.error ?? ''}`);
      return { workflow: workflowResult, finalize };
    },
    async close() {
      await s3.close();
      // s3rver keeps three files per object: a 300k-slot run leaves about a million.
      rmSync(join(workDir, 's3rver'), { recursive: true, force: true });
    },
  };
}

function runWorkflowChild(config: WorkflowChildConfig): Promise<WorkflowChildResult> {
  return runJsonChild<WorkflowChildResult>(CHILD, config);
}

interface S3Process {
  readonly endpoint: string;
  readonly client: S3Client;
  close(): Promise<void>;
}

async function startS3Process(directory: string, buckets: readonly string[]): Promise<S3Process> {
  mkdirSync(directory, { recursive: true });
  const child: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', '--import', 'tsx', S3_PROCESS, directory, ...buckets], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const endpoint = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve((JSON.parse(line) as { endpoint: string }).endpoint));
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
  const client = new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', credentials: LOCAL_S3_CREDENTIALS });
  return {
    endpoint,
    client,
    close: () =>
      new Promise<void>((resolve) => {
        client.destroy();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
