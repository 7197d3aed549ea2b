/**
 * Where a workflow run keeps its files in the outputs bucket (the layout is the contract's): the dataset
 * and the per-sample parts under `runs/<run id>/`, batch files and manifests under the temporary prefix
 * the bucket's lifecycle rule expires.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { runPrefix, tempRunPrefix } from '../contract/run-layout.ts';
import type { BatchBackend } from '../contract/workflow-payloads.ts';
import type { Slot } from '../core/profiles/plan.ts';
import type { RunPlan } from '../core/run/prepare-run.ts';
import type { Profile } from '../core/profiles/profile.ts';
import type { Phase } from '../core/strategies/strategy.ts';
import { S3RunStore } from '../store/s3-run-store.ts';
import { ENV, requiredEnv } from './handler-env.ts';

export function outputsBucket(): string {
  return requiredEnv(ENV.outputsBucket);
}

export function tempPrefix(runId: string): string {
  return tempRunPrefix(runId, process.env[ENV.tempPrefix] || undefined);
}

/** The run's store; with a partition, the store of one batch. */
export function runStore(client: S3Client, runId: string, partition?: string): S3RunStore {
  return new S3RunStore({ client, bucket: outputsBucket(), prefix: runPrefix(runId), ...(partition !== undefined ? { partition } : {}) });
}

/** The run's temporary files: batch files and the manifests. */
export function tempStore(client: S3Client, runId: string): S3RunStore {
  return new S3RunStore({ client, bucket: outputsBucket(), prefix: tempPrefix(runId) });
}

/** A batch file: everything one GenerateBatch needs besides the run's plan, so the Map item stays a few bytes. */
export interface BatchFile {
  readonly runId: string;
  /** The execution whose Plan wrote this file; its results are counted in that execution's report. */
  readonly executionArn: string;
  readonly batchId: string;
  readonly backend: BatchBackend;
  readonly phase: Phase;
  readonly profiles: readonly Profile[];
  readonly slots: readonly Slot[];
  /** Batches of the seed phase, whose accepted samples are this batch's few-shot examples. */
  readonly seedBatchIds: readonly string[];
}

/** plan.json of a workflow run: the run's plan plus what the workflow decided about batches. */
export interface WorkflowPlan extends RunPlan {
  readonly executionArn: string;
  readonly instances: number;
  readonly batches: { readonly total: number; readonly sglang: number; readonly bedrock: number; readonly seed: number };
}
