import { createHash } from 'node:crypto';
import { RUN_FILES } from '../../contract/run-layout.ts';
import type { LanguageChoice, PlanSettings } from '../profiles/plan.ts';
import { WriteConflictError, type LeaseStore, type RunStore } from '../ports/run-store.ts';
import type { ProfileFormat } from '../profiles/profile-formats.ts';
import type { RunField, RunProblem } from './run-spec.ts';

/** run.json: what a run was created for, so a rerun can prove it continues the same plan. */
export interface RunManifest {
  readonly run_id: string;
  readonly created_at: string;
  readonly profiles_file: string;
  readonly profiles_sha256: string;
  readonly format: ProfileFormat;
  readonly plan: {
    readonly samples_per_profile: number;
    readonly cm_per_profile: number;
    readonly max_profiles: number | null;
    readonly language: LanguageChoice;
    readonly seed: number;
  };
  /**
   * What else decides which slot lands in which split and partition: the validation split, the workflow's
   * batching, the seeds. Absent in runs made before it was recorded; those are compared on the rest only.
   */
  readonly partitions?: ManifestPartitions;
}

export interface ManifestPartitions {
  readonly validation_ratio: number;
  readonly batch_slots: number | null;
  /** Profiles the strategy writes in its seed phase (0 for strategies without one). */
  readonly seed_profiles: number;
  readonly seed_data: string | null;
}

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** sha256 of bytes that come in chunks (a file read a part at a time). */
export function sha256Of(chunks: Iterable<Uint8Array>): string {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}

export function manifestPlan(settings: PlanSettings): RunManifest['plan'] {
  return {
    samples_per_profile: settings.samplesPerProfile,
    cm_per_profile: settings.cmPerProfile,
    max_profiles: settings.maxProfiles ?? null,
    language: settings.language,
    seed: settings.seed,
  };
}

/**
 * Same profiles file, plan settings and strategy give the same id, so rerunning a command resumes its run;
 * runs of other strategies get their own id, so they never resume an SGLang-only run.
 */
export function deriveRunId(
  profilesFile: string,
  profilesSha256: string,
  format: ProfileFormat,
  settings: PlanSettings,
  strategy: string,
): string {
  const stem = (profilesFile.split(/[\\/]/u).pop() ?? 'profiles')
    .replace(/\.[^.]+$/u, '')
    .replace(/[^\p{L}\p{N}_-]+/gu, '-')
    .slice(0, 40);
  const digest = sha256(JSON.stringify({ profilesSha256, format, plan: manifestPlan(settings) })).slice(0, 10);
  return `${stem || 'profiles'}-${digest}${strategy === 'sglang' ? '' : `-${strategy}`}`;
}

const PARTITION_FIELDS: Record<keyof ManifestPartitions, RunField> = {
  validation_ratio: 'validationRatio',
  batch_slots: 'batchSlots',
  seed_profiles: 'seedProfiles',
  seed_data: 'seedData',
};

const PLAN_FIELDS: Record<keyof RunManifest['plan'], RunField> = {
  samples_per_profile: 'samplesPerProfile',
  cm_per_profile: 'cmPerProfile',
  max_profiles: 'maxProfiles',
  language: 'language',
  seed: 'seed',
};

/** Each plan setting that differs, naming its field, or [] when the run can be resumed. */
export function manifestConflicts(existing: RunManifest, wanted: RunManifest): RunProblem[] {
  const conflicts: RunProblem[] = [];
  if (existing.profiles_sha256 !== wanted.profiles_sha256) {
    conflicts.push({
      field: 'profiles',
      message: `: the run was made from a different profiles file (${existing.profiles_file}, sha256 ${existing.profiles_sha256.slice(0, 12)})`,
    });
  }
  // A format read differently gives other profiles, ids and splits: earlier samples would silently drop out.
  if (existing.format !== wanted.format) {
    conflicts.push({
      field: 'format',
      message: `: the run read the profiles as ${existing.format}, this run reads them as ${wanted.format}`,
    });
  }
  if (existing.partitions !== undefined && wanted.partitions !== undefined) {
    for (const key of Object.keys(PARTITION_FIELDS) as (keyof ManifestPartitions)[]) {
      if (existing.partitions[key] !== wanted.partitions[key]) {
        conflicts.push({
          field: PARTITION_FIELDS[key],
          message: `: the run used ${String(existing.partitions[key])}, this run asks for ${String(wanted.partitions[key])}`,
        });
      }
    }
  }
  for (const key of Object.keys(PLAN_FIELDS) as (keyof RunManifest['plan'])[]) {
    if (existing.plan[key] !== wanted.plan[key]) {
      conflicts.push({
        field: PLAN_FIELDS[key],
        message: `: the run used ${String(existing.plan[key])}, this run asks for ${String(wanted.plan[key])}`,
      });
    }
  }
  return conflicts;
}

/**
 * Claims a run's store for this manifest: creates run.json when there is none, and otherwise returns the
 * plan settings that differ from the existing run (empty when the run can be resumed). The create is
 * conditional, so of two claims racing for a new run one creates it and the other is compared with it.
 */
export async function claimRun(store: Pick<RunStore, 'readJson' | 'writeJson'>, manifest: RunManifest): Promise<RunProblem[]> {
  const existing = await store.readJson<RunManifest>(RUN_FILES.manifest);
  if (existing !== undefined) return manifestConflicts(existing, manifest);
  try {
    await store.writeJson(RUN_FILES.manifest, manifest, { ifAbsent: true });
    return [];
  } catch (error) {
    if (!(error instanceof WriteConflictError)) throw error;
  }
  const winner = await store.readJson<RunManifest>(RUN_FILES.manifest);
  if (winner === undefined) throw new Error(`${RUN_FILES.manifest} was created and removed again while this run claimed it`);
  return manifestConflicts(winner, manifest);
}

/** The run's writer lease: who writes the run now. A run directory shows it as a lock file. */
export const WRITER_LEASE = 'run.lock';

/** What run.lock holds: who writes the run and since when, plus what the writer's front door needs to tell whether it still runs. */
export interface WriterLease {
  /** Names the writer for people and tells writers apart: an execution ARN, or the CLI's process. */
  readonly writer: string;
  readonly claimed_at: string;
  readonly [detail: string]: unknown;
}

export interface RunWriter {
  readonly lease: WriterLease;
  /**
   * Whether the writer that recorded `holder` may still be writing. One that is not (a process that exited
   * or was killed, an execution that ended) is replaced: that is a resume. When unsure, answer true.
   */
  isActive(holder: WriterLease): Promise<boolean>;
}

/** Another writer holds the run; `holder` says who. */
export class RunBusyError extends Error {
  override readonly name = 'RunBusyError';
  constructor(
    readonly location: string,
    readonly holder: WriterLease,
  ) {
    super(`${location} is being written by ${holder.writer} since ${holder.claimed_at}`);
  }
}

/** Claims against a lease that keeps changing under us give up after this many reads: someone else is winning. */
const CLAIM_ROUNDS = 5;

/**
 * Makes `writer` the run's only writer: creates the lease when there is none, keeps it when this writer
 * already holds it (a retried step), takes it over from a writer that no longer runs, and throws
 * RunBusyError naming the holder otherwise. Every write is conditional, so of two claimants racing (for
 * a new run or for a dead writer's) exactly one proceeds. Call before the first write of a run. Returns
 * the lease taken over, if any, so the caller can say whose run it resumes.
 */
export async function claimWriter(store: LeaseStore, writer: RunWriter): Promise<WriterLease | undefined> {
  let holder: WriterLease | undefined;
  for (let round = 0; round < CLAIM_ROUNDS; round++) {
    const current = await store.readJsonVersion<WriterLease>(WRITER_LEASE);
    holder = current?.value;
    if (current !== undefined && current.value.writer === writer.lease.writer) return undefined;
    if (current !== undefined && (await writer.isActive(current.value))) throw new RunBusyError(store.location, current.value);
    try {
      await store.writeJson(WRITER_LEASE, writer.lease, current === undefined ? { ifAbsent: true } : { ifVersion: current.version });
      return current?.value;
    } catch (error) {
      if (!(error instanceof WriteConflictError)) throw error;
    }
  }
  throw new RunBusyError(store.location, holder ?? { writer: 'another writer', claimed_at: new Date().toISOString() });
}

/** Ends `writer`'s lease, if it still holds it: the next writer finds the run free without judging a stale lease. */
export async function releaseWriter(store: LeaseStore, writer: RunWriter): Promise<void> {
  const current = await store.readJsonVersion<WriterLease>(WRITER_LEASE);
  if (current?.value.writer !== writer.lease.writer) return;
  try {
    await store.deleteJson(WRITER_LEASE, { ifVersion: current.version });
  } catch (error) {
    // Taken over meanwhile (this writer was judged gone): the lease is no longer ours to end.
    if (!(error instanceof WriteConflictError)) throw error;
  }
}

/**
 * The writer holding the run's lease, when it may still be writing: a reader's check, which claims nothing.
 * A lease its writer left behind (a process that exited, an execution that ended) names no writer.
 */
export async function activeWriter(
  store: Pick<LeaseStore, 'readJsonVersion'>,
  judge: Pick<RunWriter, 'isActive'>,
): Promise<WriterLease | undefined> {
  const current = await store.readJsonVersion<WriterLease>(WRITER_LEASE);
  return current !== undefined && (await judge.isActive(current.value)) ? current.value : undefined;
}
