/**
 * Runs the generation workflow in a fresh process through the local workflow harness (the synthesized
 * state machine on aws-local-stepfunctions, every Lambda Task bound to its real handler, S3 served by an
 * s3rver the parent runs) and prints its resource use as JSON on the last line, as pipeline-child.ts does:
 *   mode "workflow": one execution, Plan to FleetDown, every handler in this one process;
 *   mode "finalize": the Finalize handler alone, again, on a run an earlier execution finished.
 * The fleet's control plane (Auto Scaling, EC2, Step Functions) is answered by aws-sdk-client-mock, as in
 * the workflow tests; the SGLang server is the simulated one, in its own process.
 */
import { readFileSync } from 'node:fs';
import { AutoScalingClient, DescribeAutoScalingGroupsCommand, SetDesiredCapacityCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { RESPONSE_CACHE_ENV } from '../../orchestrator/src/contract/response-cache.ts';
import type { FinalizeOutput } from '../../orchestrator/src/contract/workflow-payloads.ts';
import { LOCAL_S3_CREDENTIALS } from '../../test/support/local-s3.ts';
import type { SynthesizedWorkflow } from '../../test/support/local-workflow.ts';

export interface WorkflowChildConfig {
  readonly mode: 'workflow' | 'finalize';
  /** SynthesizedWorkflow as JSON (functions as entries), written by the parent that synthesized the app. */
  readonly workflowFile: string;
  readonly s3Endpoint: string;
  readonly outputsBucket: string;
  readonly simUrl: string;
  readonly simModel: string;
  /** The execution's input (the workflow mode), or the run to finalize again (`runId`). */
  readonly input: { readonly runId: string } & Record<string, unknown>;
}

export interface WorkflowChildResult {
  readonly exitCode: number;
  readonly cpuMs: number;
  readonly wallMs: number;
  readonly maxRssMb: number;
  readonly accepted?: number;
  readonly slots?: number;
  readonly error?: string;
}

const config = JSON.parse(process.argv[2] ?? '{}') as WorkflowChildConfig;
const saved = JSON.parse(readFileSync(config.workflowFile, 'utf8')) as Omit<SynthesizedWorkflow, 'functions'> & {
  functions: [string, SynthesizedWorkflow['functions'] extends ReadonlyMap<string, infer F> ? F : never][];
};
const workflow: SynthesizedWorkflow = { ...saved, functions: new Map(saved.functions) };
// The handlers' environment as the template sets it (as applyFunctionEnvironment does, without loading the
// harness in the Finalize mode), with the local parts swapped in.
const environment: Record<string, string | undefined> = {
  ...Object.assign({}, ...[...workflow.functions.values()].map((fn) => fn.environment)),
  RAIDEN_OUTPUTS_BUCKET: config.outputsBucket,
  RAIDEN_S3_ENDPOINT: config.s3Endpoint,
  RAIDEN_SERVERS: JSON.stringify([{ name: 'main', port: Number(new URL(config.simUrl).port), model: config.simModel, dp: 1 }]),
  RAIDEN_API_KEY_SECRET_ARN: undefined,
  // The measured run asks the model for every slot, like the CLI rows of the same scenario without a cache.
  [RESPONSE_CACHE_ENV]: undefined,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
};
for (const [key, value] of Object.entries(environment)) {
  if (value === undefined) delete process.env[key];
  else process.env[key] = value;
}

// One instance, in service from the second look, at the simulated server's address; no other execution.
let desired = 0;
let looks = 0;
mockClient(AutoScalingClient)
  .on(DescribeAutoScalingGroupsCommand)
  .callsFake(() => {
    looks++;
    const inService = desired > 0 && looks > 1;
    return {
      AutoScalingGroups: [
        {
          AutoScalingGroupName: 'raiden-gpu-fleet',
          DesiredCapacity: desired,
          MinSize: 0,
          MaxSize: 1,
          Instances: desired > 0 ? [{ InstanceId: 'i-0123456789abcdef0', LifecycleState: inService ? 'InService' : 'Pending' }] : [],
        },
      ],
    };
  })
  .on(SetDesiredCapacityCommand)
  .callsFake((input: { DesiredCapacity: number }) => {
    desired = input.DesiredCapacity;
    return {};
  });
mockClient(EC2Client)
  .on(DescribeInstancesCommand)
  .resolves({
    Reservations: [{ Instances: [{ InstanceId: 'i-0123456789abcdef0', PrivateIpAddress: '127.0.0.1', State: { Name: 'running' } }] }],
  });
mockClient(SFNClient)
  .on(DescribeExecutionCommand)
  .callsFake((input: { executionArn: string }) => ({ executionArn: input.executionArn, status: 'SUCCEEDED' }))
  .on(ListExecutionsCommand)
  .resolves({ executions: [] });
// The handlers' structured log lines (one per batch and more) are not what is measured.
console.log = () => undefined;

const { S3Client } = await import('@aws-sdk/client-s3');
const s3 = new S3Client({ endpoint: config.s3Endpoint, forcePathStyle: true, region: 'us-east-1', credentials: LOCAL_S3_CREDENTIALS });
const cpuBefore = process.cpuUsage();
const started = performance.now();
let result: Pick<WorkflowChildResult, 'exitCode' | 'accepted' | 'slots' | 'error'>;
try {
  let output: FinalizeOutput;
  if (config.mode === 'finalize') {
    const finalize = (await import('../../orchestrator/src/handlers/finalize.ts')) as {
      handler: (event: unknown) => Promise<FinalizeOutput>;
    };
    output = await finalize.handler({ runId: config.input.runId });
  } else {
    const { runWorkflowLocally } = await import('../../test/support/local-workflow.ts');
    const run = await runWorkflowLocally({ workflow, s3, input: config.input, executionName: config.input.runId, waitMs: 5 });
    if (run.error !== undefined) throw new Error(`${run.error.name}: ${run.error.cause}`);
    output = run.output as FinalizeOutput;
  }
  result = { exitCode: output.status === 'complete' ? 0 : 3, accepted: output.accepted, slots: output.slots };
} catch (error) {
  result = { exitCode: 1, error: (error as Error).message.slice(0, 500) };
}
s3.destroy();
const cpu = process.cpuUsage(cpuBefore);
const output: WorkflowChildResult = {
  ...result,
  cpuMs: (cpu.user + cpu.system) / 1000,
  wallMs: performance.now() - started,
  maxRssMb: process.resourceUsage().maxRSS / 1024,
};
process.stdout.write(`\n${JSON.stringify(output)}\n`);
process.exit(0);
