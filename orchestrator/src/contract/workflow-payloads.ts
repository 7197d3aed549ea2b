/**
 * What the workflow's states hand each other. Small by design (Step Functions payloads stay under
 * 256 KiB): S3 keys, counts and ids, never profiles or samples.
 */

/** The backends a batch can run on. */
export const BATCH_BACKENDS = ['sglang', 'bedrock'] as const;
export type BatchBackend = (typeof BATCH_BACKENDS)[number];

/** Plan's input: the execution input as the user wrote it, and the execution's identity. */
export interface PlanEvent {
  readonly input: unknown;
  readonly execution: { readonly id: string; readonly name: string; readonly startTime: string };
}

/** What Plan hands the state machine. */
export interface PlanOutput {
  readonly runId: string;
  readonly runUri: string;
  /** The outputs bucket: the Distributed Map reads the manifest from it and writes its results there. */
  readonly bucket: string;
  /** The batches of the Generate map (iterative: the expansion batches). */
  readonly manifestKey: string;
  readonly batches: number;
  /** The batches of the Seed map, run before Generate (iterative's seeds); 0 when the strategy has none. */
  readonly seedManifestKey: string;
  readonly seedBatches: number;
  readonly seedMaxConcurrency: number;
  readonly slots: number;
  readonly needsSglang: boolean;
  readonly maxConcurrency: number;
  readonly toleratedFailurePercent: number;
  readonly instances: number;
  readonly readinessTimeoutSeconds: number;
  /** Bedrock batch inference answers the open slots before the Generate map. */
  readonly batchInference: boolean;
  /** Seconds between two status checks of the batch jobs. */
  readonly batchPollSeconds: number;
}

/** The batch inference steps, one Lambda: create the jobs, check them, then store their answers per batch. */
export interface BatchInferenceEvent {
  readonly runId: string;
  readonly action: 'submit' | 'status' | 'collect';
  /** The input's batchPollSeconds: the wait between two status checks, raised to what the history allows. */
  readonly pollSeconds?: number;
  /** When the execution started and how long the state machine lets it run: the job must end before that. */
  readonly executionStartTime?: string;
  readonly executionTimeoutSeconds?: number;
}

export interface BatchInferenceOutput {
  /** Every job is finished (or there was nothing to submit). */
  readonly done: boolean;
  readonly jobs: number;
  readonly records: number;
  readonly statuses?: readonly string[];
  /** Seconds the workflow waits before the next status check. */
  readonly waitSeconds?: number;
  /** Why nothing was submitted (the slots then run on demand). */
  readonly skipped?: string;
  /** The job timeout Bedrock was given, after fitting it into what the execution has left. */
  readonly timeoutHours?: number;
}

/** One line of a batch manifest the Distributed Map reads. Small: the batch's work lives in S3. */
export interface ManifestItem {
  readonly batchId: string;
  /** S3 key of the batch file (profiles and slots). */
  readonly key: string;
  readonly backend: BatchBackend;
  readonly slots: number;
  readonly profiles: number;
}

/** The Distributed Map's item: one manifest line plus the run id. */
export interface BatchEvent {
  readonly runId: string;
  readonly batch: ManifestItem;
}

export interface BatchOutput {
  readonly batchId: string;
  readonly accepted: number;
  readonly emptySlots: number;
  readonly slots: number;
}

/** What one GenerateBatch invocation records under PARTS.results. */
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

export interface FinalizeEvent {
  readonly runId: string;
}

/** Finalize's output: the execution's output, which `raiden status` prints. */
export interface FinalizeOutput {
  readonly runId: string;
  readonly status: string;
  readonly accepted: number;
  readonly slots: number;
  readonly emptySlots: number;
  readonly failedBatches: number;
  readonly report: string;
}

export interface FleetUpEvent {
  readonly runId: string;
  readonly instances: number;
  readonly readinessTimeoutSeconds: number;
}

export interface FleetUpOutput {
  readonly previous: number;
  readonly desired: number;
  /** ISO time after which FleetStatus gives up waiting for the servers. */
  readonly deadline: string;
  /** ISO time FleetUp raised the group: FleetStatus reads the scaling activities since then. */
  readonly startedAt: string;
}

export interface FleetStatusEvent {
  readonly runId: string;
  readonly deadline: string;
  /** FleetUp's startedAt. */
  readonly since: string;
}

export interface FleetStatusOutput {
  readonly ready: boolean;
  readonly instances: number;
  readonly healthy: number;
  readonly endpoints: number;
}

export interface FleetDownEvent {
  readonly runId?: string;
}

/** The part of a workflow run's plan.json that `raiden status` reads to show progress. */
export interface PlanProgress {
  readonly slots: { readonly total: number };
  readonly batches: { readonly total: number };
}
