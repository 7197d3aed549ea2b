/**
 * Where a workflow run keeps its files in the outputs bucket. The dataset and the per-sample parts live
 * under `runs/<run id>/`; the batch manifest and batch files are temporary (the bucket's lifecycle rule
 * expires the temp prefix).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Batch, BatchBackend, ManifestItem } from '../core/batch-plan.ts';
import type { RunEstimate } from '../core/cost-estimate.ts';
import type { InputRejection, Profile } from '../core/profile.ts';
import type { WorkflowInput } from '../core/workflow-input.ts';
import { S3RunStore } from '../store/s3-run-store.ts';
import { ENV, requiredEnv } from './handler-env.ts';

export const PLAN_FILE = 'plan.json';
/** One JSON document per GenerateBatch invocation: its counters, empty slots and why it stopped. */
export const RESULTS_PREFIX = 'parts/results/';

export function runPrefix(runId: string): string {
  return `runs/${runId}/`;
}

export function tempPrefix(runId: string): string {
  return `${process.env[ENV.tempPrefix] ?? 'tmp/'}runs/${runId}/`;
}

export function outputsBucket(): string {
  return requiredEnv(ENV.outputsBucket);
}

/** The run's store; with a partition, the store of one batch. */
export function runStore(client: S3Client, runId: string, partition?: string): S3RunStore {
  return new S3RunStore({ client, bucket: outputsBucket(), prefix: runPrefix(runId), ...(partition !== undefined ? { partition } : {}) });
}

/** The run's temporary files: batch files and the manifest. */
export function tempStore(client: S3Client, runId: string): S3RunStore {
  return new S3RunStore({ client, bucket: outputsBucket(), prefix: tempPrefix(runId) });
}

/** Generation settings every batch of a run shares. */
export interface BatchSettings {
  readonly strategy: WorkflowInput['strategy'];
  readonly maxAttempts: number;
  readonly maxTokens: number;
  readonly temperature: number;
  readonly model?: string | undefined;
  readonly bedrockModel: string;
  /** filter: SGLang candidates per slot, judged by judgeModel at minScore. */
  readonly candidates: number;
  readonly minScore: number;
  readonly judgeModel: string;
}

/** iterative: seed batches (Bedrock) run in the Seed map, expansion batches (SGLang) after them. */
export type BatchPhase = 'seed' | 'expand';

/** A batch file: everything one GenerateBatch needs, so the Map item stays a few bytes. */
export interface BatchFile extends Pick<Batch, 'backend' | 'slots'> {
  readonly runId: string;
  /** The execution whose Plan wrote this file; its results are counted in that execution's report. */
  readonly executionArn: string;
  readonly batchId: string;
  readonly settings: BatchSettings;
  readonly profiles: readonly Profile[];
  readonly phase?: BatchPhase;
  /** expand: the seed batches, whose accepted samples are this batch's few-shot examples. */
  readonly seedBatchIds?: readonly string[];
}

/** plan.json: what Plan decided, read by Finalize for the report and by `raiden status` for progress. */
export interface RunPlan {
  readonly runId: string;
  readonly executionArn: string;
  readonly startedAt: string;
  readonly input: WorkflowInput;
  readonly profiles: { readonly file: string; readonly format: string; readonly usable: number; readonly rejected: readonly InputRejection[] };
  readonly profileIds: readonly string[];
  readonly slots: { readonly total: number; readonly sbk: number; readonly cm: number };
  readonly batches: { readonly total: number; readonly sglang: number; readonly bedrock: number; readonly seed: number };
  /** iterative: profiles Bedrock writes seeds for. */
  readonly seedProfiles: number;
  readonly estimate: RunEstimate;
}

/** What Plan hands the state machine: small, S3 keys instead of data. */
export interface PlanOutput {
  readonly runId: string;
  readonly runUri: string;
  /** The outputs bucket: the Distributed Map reads the manifest from it and writes its results there. */
  readonly bucket: string;
  /** The batches of the Generate map (iterative: the expansion batches). */
  readonly manifestKey: string;
  readonly batches: number;
  /** iterative: the seed batches, run by the Seed map before Generate; 0 otherwise. */
  readonly seedManifestKey: string;
  readonly seedBatches: number;
  readonly seedMaxConcurrency: number;
  readonly slots: number;
  readonly needsSglang: boolean;
  readonly maxConcurrency: number;
  readonly toleratedFailurePercent: number;
  readonly instances: number;
  readonly readinessTimeoutSeconds: number;
}

/** The Distributed Map's item: one manifest line plus the run id. */
export interface BatchEvent {
  readonly runId: string;
  readonly batch: ManifestItem;
}

/** What one GenerateBatch invocation records under RESULTS_PREFIX. */
export interface BatchResult {
  readonly batchId: string;
  readonly executionArn: string;
  readonly backend: BatchBackend;
  readonly invocation: string;
  readonly finishedAt: string;
  readonly slots: number;
  readonly alreadyDone: number;
  readonly accepted: number;
  readonly rejected: number;
  readonly requests: number;
  readonly transportFailures: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly rejectsByReason: Record<string, number>;
  readonly emptySlots: readonly { slot_id: string; attempts: number; last_reason: string }[];
  /** `deadline` when the Lambda ran out of time, `backend` when the backend could not be used. */
  readonly stopped?: 'deadline' | 'backend';
  readonly error?: string;
}
