/**
 * Turns a RunSpec and the profile file's bytes into the run's plan: profiles (with located rejections),
 * slots, the strategy's assignment of profiles to backends and phases, the run id, run.json and the
 * estimate. The CLI and the Plan Lambda both call it; they differ only in where the bytes come from.
 */
import { DEFAULT_COST_ASSUMPTIONS, estimateRun, type CostAssumptions, type RunEstimate } from '../report/cost-estimate.ts';
import { chooseValidationProfiles } from './dataset-split.ts';
import { planSlots, type PlanSettings, type Slot } from '../profiles/plan.ts';
import type { RunStore } from '../ports/run-store.ts';
import type { InputRejection, Profile } from '../profiles/profile.ts';
import { ProfileFormatError } from '../profiles/profile-formats.ts';
import { parseProfiles, type LoadedProfiles } from '../profiles/profile-loader.ts';
import { canonicalText } from '../verify/keyword-match.ts';
import { estimatePromptTokens } from '../prompts/prompts.ts';
import { claimRun, deriveRunId, manifestPlan, sha256, type RunManifest } from './run-manifest.ts';
import { cmPerProfileOf, RunSpecError, validationRatioOf, type RunSpec } from './run-spec.ts';
import { strategyByName } from '../strategies/registry.ts';
import { backendOfProfile, type Assignment, type Strategy } from '../strategies/strategy.ts';

export interface ProfileSource {
  readonly bytes: Uint8Array;
  /** Where the file is, as the user named it (a path or an s3:// URL); shown in messages and the report. */
  readonly location: string;
}

/** What the report says about the input. */
export interface InputSummary {
  readonly file: string;
  readonly format: string;
  readonly usable: number;
  readonly rejected: readonly InputRejection[];
}

/** The plan of a run as plain data: written to plan.json by the workflow, rebuilt in memory by the CLI. */
export interface RunPlan {
  readonly runId: string;
  readonly startedAt: string;
  readonly spec: RunSpec;
  readonly input: InputSummary;
  readonly profileIds: readonly string[];
  readonly slots: { readonly total: number; readonly sbk: number; readonly cm: number };
  /** The share of profiles in validation.json, after validationProfiles. */
  readonly validationRatio: number;
  readonly assignment: Assignment;
  readonly estimate: RunEstimate;
}

export interface PreparedRun {
  readonly plan: RunPlan;
  readonly strategy: Strategy;
  readonly loaded: LoadedProfiles;
  readonly profiles: ReadonlyMap<string, Profile>;
  readonly slots: readonly Slot[];
  readonly manifest: RunManifest;
}

export interface PrepareOptions {
  /** The run id the front door chose (the workflow's runId or execution name); derived from the plan otherwise. */
  readonly runId?: string | undefined;
  readonly startedAt: Date;
  readonly costs?: CostAssumptions | undefined;
}

export function prepareRun(spec: RunSpec, source: ProfileSource, options: PrepareOptions): PreparedRun {
  const loaded = loadProfiles(spec, source);
  if (loaded.profiles.length === 0) {
    throw new RunSpecError([
      { field: 'profiles', message: `: no usable profiles in ${source.location}; ${firstRejections(loaded.rejected)}` },
    ]);
  }
  const settings: PlanSettings = {
    samplesPerProfile: spec.samplesPerProfile,
    cmPerProfile: cmPerProfileOf(spec),
    maxProfiles: spec.maxProfiles,
    language: spec.language,
    seed: spec.seed,
  };
  const slots = planSlots(loaded.profiles, settings);
  if (slots.length === 0)
    throw new RunSpecError([{ message: 'nothing to generate: set {samplesPerProfile} above zero or ask for CM samples with {includeCm}' }]);
  const profiles = new Map(loaded.profiles.map((profile) => [profile.id, profile]));
  const profileIds = [...new Set(slots.map((slot) => slot.profileId))];
  const digest = sha256(source.bytes);
  const runId = options.runId ?? deriveRunId(source.location, digest, loaded.format, settings, spec.strategy);
  const strategy = strategyByName(spec.strategy);
  const validationRatio = validationRatioOf(spec, profileIds.length);
  const assignment = strategy.assign({
    profileIds,
    spec,
    validationProfiles: chooseValidationProfiles(profileIds, validationRatio, spec.seed),
  });
  const estimate = estimateRun(
    slots.map((slot) => ({
      kind: slot.kind,
      inputTokens: estimatePromptTokens(profiles.get(slot.profileId) as Profile, slot),
      backend: backendOfProfile(assignment, slot.profileId),
    })),
    options.costs ?? DEFAULT_COST_ASSUMPTIONS,
    strategy.estimateShape?.(spec),
  );
  const startedAt = options.startedAt.toISOString();
  return {
    strategy,
    loaded,
    profiles,
    slots,
    manifest: {
      run_id: runId,
      created_at: startedAt,
      profiles_file: source.location,
      profiles_sha256: digest,
      format: loaded.format,
      plan: manifestPlan(settings),
      partitions: {
        validation_ratio: validationRatio,
        batch_slots: spec.batchSlots ?? null,
        seed_profiles: assignment.seed.length,
        seed_data: spec.seedData ?? null,
      },
    },
    plan: {
      runId,
      startedAt,
      spec,
      input: { file: source.location, format: loaded.format, usable: loaded.profiles.length, rejected: loaded.rejected },
      profileIds,
      slots: { total: slots.length, sbk: countKind(slots, 'SBK'), cm: countKind(slots, 'CM') },
      validationRatio,
      assignment,
      estimate,
    },
  };
}

/** Claims the run's store for this plan; a run id that holds a run with other settings is refused, naming each field. */
export async function claimPreparedRun(store: Pick<RunStore, 'readJson' | 'writeJson'>, prepared: PreparedRun): Promise<void> {
  const conflicts = await claimRun(store, prepared.manifest);
  if (conflicts.length > 0) {
    throw new RunSpecError([
      { message: `run ${prepared.plan.runId} already holds a run with other settings, so it cannot be resumed with these:` },
      ...conflicts,
      { message: 'Use the original settings to resume it, or start a new run.' },
    ]);
  }
}

/** How many refused records a "no usable profiles" error names: enough to show the pattern, few enough to read. */
const REJECTIONS_SHOWN = 3;

function firstRejections(rejected: readonly InputRejection[]): string {
  const shown = rejected.slice(0, REJECTIONS_SHOWN).map((rejection) => `${rejection.location}: ${rejection.reason}`);
  const more = rejected.length > REJECTIONS_SHOWN ? `; and ${rejected.length - REJECTIONS_SHOWN} more` : '';
  return `${rejected.length} rejected: ${shown.join('; ')}${more}. Fix the file or choose another`;
}

export function countKind(slots: readonly Slot[], kind: Slot['kind']): number {
  return slots.filter((slot) => slot.kind === kind).length;
}

function loadProfiles(spec: RunSpec, source: ProfileSource): LoadedProfiles {
  let loaded: LoadedProfiles;
  try {
    loaded = parseProfiles(source.bytes, source.location, spec.format);
  } catch (error) {
    if (error instanceof ProfileFormatError) throw new RunSpecError([{ message: error.message }]);
    throw error;
  }
  return excludeCharacters(loaded, spec.excludeNames);
}

/**
 * Refuses the profiles of characters an evaluation uses (excludeNames), matched on the name or any alias
 * after the keywords' normalisation, so training data never teaches the answers a benchmark asks for.
 */
export function excludeCharacters(loaded: LoadedProfiles, excludeNames: readonly string[]): LoadedProfiles {
  if (excludeNames.length === 0) return loaded;
  const excluded = new Set(excludeNames.map(canonicalText));
  const kept: Profile[] = [];
  const rejected: InputRejection[] = [...loaded.rejected];
  for (const profile of loaded.profiles) {
    const listed = [profile.name, ...profile.aliases].find((name) => excluded.has(canonicalText(name)));
    if (listed === undefined) kept.push(profile);
    else
      rejected.push({
        location: profile.location,
        reason: `character ${JSON.stringify(listed)} is on the list of names to exclude (an evaluation character): kept out of the training data; take it off the list to use it`,
      });
  }
  return { ...loaded, profiles: kept, rejected };
}
