/**
 * Where a run keeps its files: the same names in a local run directory and under a run's S3 prefix, and
 * the S3 keys of the workflow's temporary files. Every run path is built here.
 */
export const RUN_FILES = {
  samples: 'samples.jsonl',
  rejects: 'rejects.jsonl',
  train: 'train.json',
  validation: 'validation.json',
  stats: 'dataset_stats.json',
  report: 'report.json',
  /** What the run was created for; a resume must match it. */
  manifest: 'run.json',
  /** The workflow's plan: what Plan decided, read by Finalize and `raiden status`. */
  plan: 'plan.json',
  evaluation: 'evaluation.jsonl',
  evaluationReport: 'evaluation_report.json',
  /** Dry run: every prompt the run would send. */
  prompts: 'prompts.jsonl',
  /** What happened when (accepted, rejected, requests in flight), appended as the run goes; read by report.html. */
  events: 'events.jsonl',
  reportHtml: 'report.html',
  /** One line per planned profile (id, name, language, and the text the generator saw), read by `raiden export`. */
  profiles: 'profiles.jsonl',
} as const;

export type RunFile = (typeof RUN_FILES)[keyof typeof RUN_FILES];

/** Runs live under this prefix of the outputs bucket; local runs under ./runs/ by default. */
export const RUNS_PREFIX = 'runs/';

/** Temporary run files (batch files, manifests, Map results) live under this prefix; a lifecycle rule expires it. */
export const DEFAULT_TEMP_PREFIX = 'tmp/';

/** The key prefix of a run in the outputs bucket, e.g. `runs/<run id>/`. */
export function runPrefix(runId: string): string {
  return `${RUNS_PREFIX}${runId}/`;
}

/** The key of one of a run's files, e.g. `runs/<run id>/report.json`. */
export function runKey(runId: string, file: string): string {
  return `${runPrefix(runId)}${file}`;
}

/** The prefix of a run's temporary files, e.g. `tmp/runs/<run id>/`. */
export function tempRunPrefix(runId: string, tempPrefix: string = DEFAULT_TEMP_PREFIX): string {
  return `${tempPrefix}${runPrefix(runId)}`;
}

/** Names of the workflow's temporary files, relative to tempRunPrefix. */
export const TEMP_FILES = {
  manifest: 'manifest.jsonl',
  seedManifest: 'seed-manifest.jsonl',
  batch: (batchId: string) => `batches/${batchId}.json`,
  /** Bedrock batch inference: the JSONL input and Bedrock's output under it, the submitted jobs, the answers per batch. */
  batchInferencePrefix: 'bedrock-batch/',
  batchInferenceJobs: 'bedrock-batch/jobs.json',
  batchAnswers: (batchId: string) => `bedrock-batch/answers/${batchId}.json`,
} as const;

/** Per-record objects while the workflow runs, relative to the run prefix. */
export const PARTS = {
  samples: 'parts/samples/',
  rejects: 'parts/rejects/',
  /** One JSON document per GenerateBatch invocation: its counters, empty slots and why it stopped. */
  results: 'parts/results/',
  /** The event log in S3: each writer's own objects, `<partition>/<writer>/<sequence>.jsonl`. */
  events: 'parts/events/',
} as const;
