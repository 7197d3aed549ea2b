import { createHash } from 'node:crypto';
import { RUN_FILES } from '../contract/run-layout.ts';
import type { LanguageChoice, PlanSettings } from './plan.ts';
import type { RunStore } from './ports/run-store.ts';
import type { ProfileFormat } from './profile-formats.ts';
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
}

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
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
 * Claims a run's store for this manifest: writes run.json when there is none, and otherwise returns the
 * plan settings that differ from the existing run (empty when the run can be resumed).
 */
export async function claimRun(store: Pick<RunStore, 'readJson' | 'writeJson'>, manifest: RunManifest): Promise<RunProblem[]> {
  const existing = await store.readJson<RunManifest>(RUN_FILES.manifest);
  if (existing !== undefined) return manifestConflicts(existing, manifest);
  await store.writeJson(RUN_FILES.manifest, manifest);
  return [];
}
