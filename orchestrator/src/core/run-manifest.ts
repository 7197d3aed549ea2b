import { createHash } from 'node:crypto';
import type { LanguageChoice, PlanSettings } from './plan.ts';
import type { ProfileFormat } from './profile-formats.ts';
import type { RunStore } from './ports/run-store.ts';

/** run.json: what a run directory was created for, so a rerun can prove it continues the same plan. */
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

export const MANIFEST_FILE = 'run.json';

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

/** Same profiles file and same plan settings give the same id, so rerunning a command resumes its run. */
export function deriveRunId(profilesFile: string, profilesSha256: string, format: ProfileFormat, settings: PlanSettings): string {
  const stem = (profilesFile.split(/[\\/]/u).pop() ?? 'profiles').replace(/\.[^.]+$/u, '').replace(/[^\p{L}\p{N}_-]+/gu, '-').slice(0, 40);
  const digest = sha256(JSON.stringify({ profilesSha256, format, plan: manifestPlan(settings) })).slice(0, 10);
  return `${stem || 'profiles'}-${digest}`;
}

/** Names each plan setting that differs, in flag form, or returns [] when the run can be resumed. */
export function manifestConflicts(existing: RunManifest, wanted: RunManifest): string[] {
  const conflicts: string[] = [];
  if (existing.profiles_sha256 !== wanted.profiles_sha256) {
    conflicts.push(`--profiles: the run was made from a different profiles file (${existing.profiles_file}, sha256 ${existing.profiles_sha256.slice(0, 12)})`);
  }
  const flags: Record<keyof RunManifest['plan'], string> = {
    samples_per_profile: '--samples-per-profile',
    cm_per_profile: '--include-cm/--cm-per-profile',
    max_profiles: '--max-profiles',
    language: '--language',
    seed: '--seed',
  };
  for (const key of Object.keys(flags) as (keyof RunManifest['plan'])[]) {
    if (existing.plan[key] !== wanted.plan[key]) {
      conflicts.push(`${flags[key]}: the run used ${String(existing.plan[key])}, this command asks for ${String(wanted.plan[key])}`);
    }
  }
  return conflicts;
}

/**
 * Claims a run's store for this manifest: writes run.json when there is none, and otherwise returns the
 * plan settings that differ from the existing run (empty when the run can be resumed).
 */
export async function claimRun(store: Pick<RunStore, 'readJson' | 'writeJson'>, manifest: RunManifest): Promise<string[]> {
  const existing = await store.readJson<RunManifest>(MANIFEST_FILE);
  if (existing !== undefined) return manifestConflicts(existing, manifest);
  await store.writeJson(MANIFEST_FILE, manifest);
  return [];
}
