/**
 * Runs the synthesized generation workflow on this machine with aws-local-stepfunctions: the definition
 * comes from the orchestrator stack's template, each Lambda Task is bound to the real handler module the
 * function bundles (found through the construct path of the function its Resource names), AWS SDK
 * integrations go through the real SDK clients (mocked by aws-sdk-client-mock in the tests).
 */

import { join } from 'node:path';
import * as sfnSdk from '@aws-sdk/client-sfn';
import { SFNClient } from '@aws-sdk/client-sfn';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { ROOT } from './run-cli.ts';

export const PLACEHOLDER_REGION = 'us-east-1';
export const PLACEHOLDER_ACCOUNT = '000000000000';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type StateDefinition = Record<string, Json> & { Type: string };
interface Machine {
  StartAt: string;
  States: Record<string, StateDefinition>;
}

/** A Lambda function of the template: its logical id, the handler file it bundles, timeout and environment. */
export interface TemplateFunction {
  readonly logicalId: string;
  readonly constructPath: string;
  readonly handlerFile: string;
  readonly timeoutSeconds: number;
  readonly environment: Record<string, string>;
}

export interface SynthesizedWorkflow {
  /** The state machine definition with every CloudFormation reference replaced by a placeholder string. */
  readonly definition: Machine;
  readonly stateMachineArn: string;
  readonly functions: ReadonlyMap<string, TemplateFunction>;
}

/** Replaces Ref / GetAtt / ImportValue with placeholders a local run can use. */
function resolveCfn(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(resolveCfn);
  if (node === null || typeof node !== 'object') return node;
  const record = node as Record<string, unknown>;
  if (Array.isArray(record['Fn::Join'])) {
    const [delimiter, parts] = record['Fn::Join'] as [string, unknown[]];
    return parts.map((part) => String(resolveCfn(part))).join(delimiter);
  }
  if (Array.isArray(record['Fn::GetAtt'])) {
    const [logicalId] = record['Fn::GetAtt'] as [string, string];
    return lambdaArn(logicalId);
  }
  if (typeof record['Fn::ImportValue'] === 'string') return `import-${record['Fn::ImportValue']}`;
  if (typeof record.Ref === 'string') {
    const pseudo: Record<string, string> = {
      'AWS::Partition': 'aws',
      'AWS::Region': PLACEHOLDER_REGION,
      'AWS::AccountId': PLACEHOLDER_ACCOUNT,
      'AWS::URLSuffix': 'amazonaws.com',
    };
    return pseudo[record.Ref] ?? `ref-${record.Ref}`;
  }
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, resolveCfn(value)]));
}

function lambdaArn(logicalId: string): string {
  return `arn:aws:lambda:${PLACEHOLDER_REGION}:${PLACEHOLDER_ACCOUNT}:function:${logicalId}`;
}

/** `FleetUp` -> `fleet-up`: the construct id of a workflow function names its handler file. */
function kebab(id: string): string {
  return id.replace(/([a-z0-9])([A-Z])/gu, '$1-$2').toLowerCase();
}

export function extractWorkflow(stack: Stack, template: Template): SynthesizedWorkflow {
  const json = template.toJSON() as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
  const paths = new Map(
    stack.node
      .findAll()
      .filter((node) => node instanceof CfnFunction)
      .map((node) => [stack.getLogicalId(node as CfnFunction), node.node.path]),
  );
  const functions = new Map<string, TemplateFunction>();
  for (const [logicalId, resource] of Object.entries(json.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const constructPath = paths.get(logicalId) ?? '';
    const match = /\/([A-Za-z]+)\/Function\/Resource$/u.exec(constructPath);
    if (!match) continue;
    const environment = resolveCfn((resource.Properties.Environment as { Variables?: unknown } | undefined)?.Variables ?? {}) as Record<
      string,
      string
    >;
    functions.set(lambdaArn(logicalId), {
      logicalId,
      constructPath,
      handlerFile: join(ROOT, 'orchestrator/src/handlers', `${kebab(match[1] as string)}.ts`),
      timeoutSeconds: Number(resource.Properties.Timeout ?? 3),
      environment,
    });
  }
  const [machineId, machine] =
    Object.entries(json.Resources).find(([, resource]) => resource.Type === 'AWS::StepFunctions::StateMachine') ?? [];
  if (machine === undefined || machineId === undefined) throw new Error('no state machine in the template');
  const definition = JSON.parse(resolveCfn(machine.Properties.DefinitionString) as string) as Machine;
  const name = machine.Properties.StateMachineName as string;
  return { definition, functions, stateMachineArn: `arn:aws:states:${PLACEHOLDER_REGION}:${PLACEHOLDER_ACCOUNT}:stateMachine:${name}` };
}

/** Calls `visit` on every state of a machine, including Parallel branches and Map item processors. */
export function forEachState(machine: Machine, visit: (name: string, state: StateDefinition, machine: Machine) => void): void {
  for (const [name, state] of Object.entries(machine.States)) {
    visit(name, state, machine);
    for (const branch of (state.Branches ?? []) as unknown as Machine[]) forEachState(branch, visit);
    const processor = (state.ItemProcessor ?? state.Iterator) as unknown as Machine | undefined;
    if (processor) forEachState(processor, visit);
  }
}

const LOCAL_ITEMS_PATH = '$.localMapItems';

/**
 * aws-local-stepfunctions runs no Distributed Map fields (ItemReader, ResultWriter, tolerated failures),
 * so each Map with an ItemReader becomes: a Task "<map> (read items)" that reads the manifest JSONL through
 * the real S3 client into `$.localMapItems`, then an inline Map over those items with the same
 * ItemSelector, MaxConcurrencyPath, item processor and ResultPath. Returns the reader state names.
 */
export function inlineDistributedMaps(machine: Machine): Map<string, { bucketPath: string; keyPath: string }> {
  const readers = new Map<string, { bucketPath: string; keyPath: string }>();
  const rename = (machine: Machine, from: string, to: string) => {
    if (machine.StartAt === from) machine.StartAt = to;
    for (const state of Object.values(machine.States)) {
      if (state.Next === from) state.Next = to;
      if (state.Default === from) state.Default = to;
      for (const rule of (state.Choices ?? []) as { Next?: string }[]) if (rule.Next === from) rule.Next = to;
      for (const catcher of (state.Catch ?? []) as { Next?: string }[]) if (catcher.Next === from) catcher.Next = to;
    }
  };
  const visitMachine = (machine: Machine) => {
    for (const [name, state] of Object.entries(machine.States)) {
      for (const branch of (state.Branches ?? []) as unknown as Machine[]) visitMachine(branch);
      if (state.Type !== 'Map' || state.ItemReader === undefined) continue;
      const parameters = (state.ItemReader as { Parameters: Record<string, string> }).Parameters;
      const readerName = `${name} (read items)`;
      readers.set(readerName, { bucketPath: parameters['Bucket.$'] ?? '', keyPath: parameters['Key.$'] ?? '' });
      rename(machine, name, readerName);
      machine.States[readerName] = { Type: 'Task', Resource: 'arn:aws:states:::s3:getObject', ResultPath: LOCAL_ITEMS_PATH, Next: name };
      for (const field of [
        'ItemReader',
        'ResultWriter',
        'ToleratedFailurePercentage',
        'ToleratedFailurePercentagePath',
        'ToleratedFailureCount',
        'ToleratedFailureCountPath',
        'Label',
        'ItemBatcher',
      ]) {
        delete state[field];
      }
      state.ItemsPath = LOCAL_ITEMS_PATH;
      (state.ItemProcessor as { ProcessorConfig: Json }).ProcessorConfig = { Mode: 'INLINE' };
    }
  };
  visitMachine(machine);
  return readers;
}

/** A Lambda error as Step Functions reports it: Error is the errorType, Cause the JSON error object. */
class LambdaFunctionError extends Error {
  constructor(errorType: string, errorMessage: string) {
    super(JSON.stringify({ errorType, errorMessage }));
    this.name = errorType;
  }
}

function jsonPath(value: unknown, path: string): unknown {
  return path
    .replace(/^\$\.?/u, '')
    .split('.')
    .filter(Boolean)
    .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], value);
}

function capitalizeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(capitalizeKeys);
  if (value === null || typeof value !== 'object' || value instanceof Date) return value instanceof Date ? value.toISOString() : value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .filter(([key]) => key !== '$metadata')
      .map(([key, inner]) => [key.charAt(0).toUpperCase() + key.slice(1), capitalizeKeys(inner)]),
  );
}

export interface LocalRunOptions {
  readonly workflow: SynthesizedWorkflow;
  readonly s3: S3Client;
  readonly input: unknown;
  readonly executionName: string;
  /** Throw this error instead of running a state's handler (failure injection by state name). */
  readonly inject?: Readonly<Record<string, Error>>;
  /** Milliseconds a Wait state waits locally. */
  readonly waitMs?: number;
}

export interface LocalRunResult {
  readonly output?: unknown;
  readonly error?: { readonly name: string; readonly cause: string };
  /** State names in the order they were entered (nested states included). */
  readonly entered: readonly string[];
  /** Each state's output when it last exited. */
  readonly exited: ReadonlyMap<string, unknown>;
}

export async function runWorkflowLocally(options: LocalRunOptions): Promise<LocalRunResult> {
  const machine = structuredClone(options.workflow.definition);
  const readers = inlineDistributedMaps(machine);
  const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
  const waits: Record<string, number> = {};
  forEachState(machine, (name, state) => {
    if (state.Type === 'Wait') waits[name] = options.waitMs ?? 5;
    if (state.Type !== 'Task') return;
    const injected = options.inject?.[name];
    const resource = String(state.Resource);
    const reader = readers.get(name);
    if (reader) {
      handlers[name] = async (input) =>
        readJsonLines(options.s3, String(jsonPath(input, reader.bucketPath)), String(jsonPath(input, reader.keyPath)));
    } else if (resource.startsWith('arn:aws:lambda:')) {
      const fn = options.workflow.functions.get(resource);
      if (fn === undefined) throw new Error(`Task ${name} names ${resource}, which is no Lambda function of the template`);
      handlers[name] = async (input) => {
        if (injected) throw new LambdaFunctionError(injected.name, injected.message);
        return invokeHandler(fn, input);
      };
    } else if (resource.startsWith('arn:aws:states:::aws-sdk:')) {
      const [service, action] = resource.slice('arn:aws:states:::aws-sdk:'.length).split(':') as [string, string];
      handlers[name] = async (input) => callSdk(service, action, input);
    } else {
      throw new Error(`Task ${name}: no local binding for ${resource}`);
    }
  });
  const execution = new StateMachine(machine as unknown as StateMachineDefinition, { validationOptions: { checkArn: false } }).run(
    JSON.parse(JSON.stringify(options.input)),
    {
      overrides: {
        taskResourceLocalHandlers: handlers as never,
        waitTimeOverrides: waits,
        retryIntervalOverrides: Object.fromEntries(Object.keys(handlers).map((name) => [name, 0])),
      },
      context: {
        Execution: {
          Id: `arn:aws:states:${PLACEHOLDER_REGION}:${PLACEHOLDER_ACCOUNT}:execution:local:${options.executionName}`,
          Name: options.executionName,
          StartTime: new Date().toISOString(),
        },
        StateMachine: { Id: options.workflow.stateMachineArn },
      },
    },
  );
  const entered: string[] = [];
  const exited = new Map<string, unknown>();
  const logging = (async () => {
    for await (const event of execution.eventLogs) {
      if (event.type === 'StateEntered') entered.push(event.state.name);
      if (event.type === 'StateExited') exited.set(event.state.name, event.state.output);
      if (process.env.RAIDEN_DEBUG_WORKFLOW)
        process.stderr.write(
          `[workflow] ${event.type} ${'state' in event ? event.state.name : ''} ${'Error' in event ? String(event.Error) : ''}\n`,
        );
    }
  })();
  try {
    const output = await execution.result;
    await logging;
    return { output, entered, exited };
  } catch (error) {
    await logging.catch(() => undefined);
    const cause = (error as { cause?: Error }).cause ?? (error as Error);
    return { error: { name: cause.name, cause: cause.message }, entered, exited };
  }
}

async function invokeHandler(fn: TemplateFunction, input: unknown): Promise<unknown> {
  const module = (await import(fn.handlerFile)) as { handler: (event: unknown, context: unknown) => Promise<unknown> };
  const deadline = Date.now() + fn.timeoutSeconds * 1000;
  const context = {
    awsRequestId: `local-${Math.random().toString(36).slice(2, 10)}`,
    getRemainingTimeInMillis: () => deadline - Date.now(),
  };
  try {
    // Lambda serializes the event and the result: so does this.
    return JSON.parse(JSON.stringify((await module.handler(JSON.parse(JSON.stringify(input)), context)) ?? null));
  } catch (error) {
    const err = error as Error;
    throw new LambdaFunctionError(err.name || 'Error', err.message);
  }
}

/** An AWS SDK integration: PascalCase parameters in, the SDK call, PascalCase result out (as Step Functions does). */
async function callSdk(service: string, action: string, input: unknown): Promise<unknown> {
  if (service !== 'sfn') throw new Error(`no local binding for the ${service} SDK integration`);
  const commandName = `${action.charAt(0).toUpperCase()}${action.slice(1)}Command` as keyof typeof sfnSdk;
  const Command = sfnSdk[commandName] as unknown as new (input: unknown) => sfnSdk.ListExecutionsCommand;
  const params = Object.fromEntries(
    Object.entries(input as Record<string, unknown>).map(([key, value]) => [key.charAt(0).toLowerCase() + key.slice(1), value]),
  );
  try {
    return capitalizeKeys(await new SFNClient({ region: PLACEHOLDER_REGION }).send(new Command(params)));
  } catch (error) {
    throw new LambdaFunctionError(`Sfn.${(error as Error).name}`, (error as Error).message);
  }
}

async function readJsonLines(s3: S3Client, bucket: string, key: string): Promise<unknown[]> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const text = (await object.Body?.transformToString()) ?? '';
  return text
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map((line) => JSON.parse(line) as unknown);
}

/** The definition as deployed, for asl-validator and structural checks. */
export function definitionJson(workflow: SynthesizedWorkflow): string {
  return JSON.stringify(workflow.definition);
}

/**
 * Sets the handlers' environment as the template sets it (all workflow functions together: they share one
 * process here), with the local parts swapped in: the s3rver bucket and endpoint, the test server's port.
 */
export function applyFunctionEnvironment(workflow: SynthesizedWorkflow, overrides: Record<string, string | undefined>): () => void {
  const saved = { ...process.env };
  const merged: Record<string, string | undefined> = {};
  for (const fn of workflow.functions.values()) Object.assign(merged, fn.environment);
  Object.assign(merged, overrides);
  for (const [key, value] of Object.entries(merged)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  return () => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  };
}
