/**
 * Turns a RunSpec and the profile file's bytes into the run's plan: profiles (with located rejections),
 * slots, the strategy's assignment of profiles to backends and phases, the run id, run.json and the
 * estimate. The CLI and the Plan Lambda both call it; they differ only in where the bytes come from.
 *
 * A plan of a million profiles is made without holding them: a JSONL file is read one line at a time, once
 * to choose the profiles and once to estimate them, and the profiles and slots of the plan are made only
 * when a front door asks for them: PreparedRun.plannedSlots reads them again in plan order at each call
 * (a generating run holds those in flight), slotIds derives the slot ids from the profile ids alone, and
 * `slots` and `profiles` hold them all for a command that looks them up by id.
 */
import { DEFAULT_COST_ASSUMPTIONS, estimateRun, type CostAssumptions, type RunEstimate } from '../report/cost-estimate.ts';
import { chooseValidationProfiles } from './dataset-split.ts';
import { planProfileSlots, planSlotIds, type PlannedSlot, type PlanSettings, type Slot } from '../profiles/plan.ts';
import type { RunStore } from '../ports/run-store.ts';
import { normalizedProfiles, type InputRejection, type Profile, type RawProfileRecord } from '../profiles/profile.ts';
import { jsonLineRecords, jsonLinesFormat, ProfileFormatError, type ProfileFormat } from '../profiles/profile-formats.ts';
import { parseProfiles, type LoadedProfiles } from '../profiles/profile-loader.ts';
import type { SlotStream } from './generation-run.ts';
import { canonicalText } from '../verify/keyword-match.ts';
import { estimatePromptTokens } from '../prompts/prompts.ts';
import { claimRun, deriveRunId, manifestPlan, sha256Of, type RunManifest } from './run-manifest.ts';
import { cmPerProfileOf, RunSpecError, validationRatioOf, type RunSpec } from './run-spec.ts';
import { strategyByName } from '../strategies/registry.ts';
import { backendOfProfile, type Assignment, type Strategy } from '../strategies/strategy.ts';
import type { BatchBackend } from '../../contract/workflow-payloads.ts';

export interface ProfileSource {
  /**
   * The file's bytes: whole (an S3 object), or read again in chunks for each pass over the file (a local
   * file), so a JSONL file of a million profiles is never held.
   */
  readonly bytes: Uint8Array | (() => Iterable<Uint8Array>);
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

export interface PreparedRun extends SlotStream {
  readonly plan: RunPlan;
  readonly strategy: Strategy;
  /** The planned profiles by id, made when first asked for and then held: for a command that looks profiles up by id. */
  readonly profiles: ReadonlyMap<string, Profile>;
  /** Every slot of the plan in plan order, made when first asked for and then held: for a command that looks slots up by id. */
  readonly slots: readonly Slot[];
  /** Slots per backend that writes them. */
  readonly slotsOn: Readonly<Record<BatchBackend, number>>;
  readonly manifest: RunManifest;
  /** Every slot of the plan with its profile, in plan order, read again from the input at each call and held by no one. */
  plannedSlots(): Generator<PlannedSlot>;
  /** Every slot id of the plan in plan order, from the planned profile ids without reading a profile. */
  slotIds(): Generator<string>;
}

export interface PrepareOptions {
  /** The run id the front door chose (the workflow's runId or execution name); derived from the plan otherwise. */
  readonly runId?: string | undefined;
  readonly startedAt: Date;
  readonly costs?: CostAssumptions | undefined;
  /** Profiles held between the passes over a JSONL input while planning; a larger input is read again for each pass. */
  readonly keepProfiles?: number;
}

/**
 * Profiles held between prepareRun's own passes over the input; a larger input is read again instead, so
 * memory stays flat. They are let go when prepareRun returns: later passes (the profile table, the
 * generation) read the input again, so a run never holds this many profiles while it generates.
 */
const PROFILES_KEPT = 20_000;

export function prepareRun(spec: RunSpec, source: ProfileSource, options: PrepareOptions): PreparedRun {
  const input = openProfiles(spec, source);
  const settings: PlanSettings = {
    samplesPerProfile: spec.samplesPerProfile,
    cmPerProfile: cmPerProfileOf(spec),
    maxProfiles: spec.maxProfiles,
    language: spec.language,
    seed: spec.seed,
  };
  // First pass: which profiles the plan takes (the first maxProfiles usable ones), keeping them only when few.
  const profileIds: string[] = [];
  let kept: Profile[] | undefined = [];
  let usable = 0;
  for (const profile of input.read()) {
    usable++;
    if (settings.maxProfiles !== undefined && profileIds.length >= settings.maxProfiles) continue;
    profileIds.push(profile.id);
    if (kept !== undefined && kept.length < (options.keepProfiles ?? PROFILES_KEPT)) kept.push(profile);
    else kept = undefined;
  }
  const rejected = input.rejected();
  if (usable === 0) {
    throw new RunSpecError([{ field: 'profiles', message: `: no usable profiles in ${source.location}; ${firstRejections(rejected)}` }]);
  }
  const slotsPerProfile = settings.samplesPerProfile + settings.cmPerProfile;
  if (profileIds.length * slotsPerProfile === 0)
    throw new RunSpecError([{ message: 'nothing to generate: set {samplesPerProfile} above zero or ask for CM samples with {includeCm}' }]);
  const plannedProfiles = (): Iterable<Profile> => firstOf(input.read(), profileIds.length);
  function* slotsOf(profiles: Iterable<Profile>): Generator<PlannedSlot> {
    for (const profile of profiles) for (const slot of planProfileSlots(profile, settings)) yield { profile, slot };
  }
  const plannedSlots = () => slotsOf(plannedProfiles());
  function* slotIds(): Generator<string> {
    for (const profileId of profileIds) yield* planSlotIds(profileId, settings);
  }

  const digest = sha256Of(chunksOf(source));
  const runId = options.runId ?? deriveRunId(source.location, digest, input.format, settings, spec.strategy);
  const strategy = strategyByName(spec.strategy);
  const validationRatio = validationRatioOf(spec, profileIds.length);
  const assignment = strategy.assign({
    profileIds,
    spec,
    validationProfiles: chooseValidationProfiles(profileIds, validationRatio, spec.seed),
  });
  // Second pass: the estimate, slot by slot as the plan is derived.
  const onOther = new Set(assignment.otherBackend);
  const slotsOn: Record<BatchBackend, number> = { sglang: 0, bedrock: 0 };
  const counts = { SBK: 0, CM: 0 };
  function* slotWork() {
    let profileId = '';
    let backend = assignment.backend;
    for (const { profile, slot } of slotsOf(kept ?? plannedProfiles())) {
      if (profile.id !== profileId) {
        profileId = profile.id;
        backend = onOther.has(profileId) ? backendOfProfile(assignment, profileId) : assignment.backend;
      }
      slotsOn[backend]++;
      counts[slot.kind]++;
      yield { kind: slot.kind, inputTokens: estimatePromptTokens(profile, slot), backend };
    }
  }
  const estimate = estimateRun(slotWork(), options.costs ?? DEFAULT_COST_ASSUMPTIONS, strategy.estimateShape?.(spec));
  // The closures returned below share this scope: let the kept profiles go, or a run would hold them while it generates.
  kept = undefined;
  const startedAt = options.startedAt.toISOString();
  let profiles: ReadonlyMap<string, Profile> | undefined;
  let slots: readonly Slot[] | undefined;
  return {
    strategy,
    get profiles() {
      return (profiles ??= new Map([...plannedProfiles()].map((profile) => [profile.id, profile])));
    },
    get slots() {
      return (slots ??= [...plannedSlots()].map((planned) => planned.slot));
    },
    slotsOn,
    plannedSlots,
    slotIds,
    manifest: {
      run_id: runId,
      created_at: startedAt,
      profiles_file: source.location,
      profiles_sha256: digest,
      format: input.format,
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
      input: { file: source.location, format: input.format, usable, rejected },
      profileIds,
      slots: { total: counts.SBK + counts.CM, sbk: counts.SBK, cm: counts.CM },
      validationRatio,
      assignment,
      estimate,
    },
  };
}

function* firstOf<T>(items: Iterable<T>, count: number): Generator<T> {
  if (count <= 0) return;
  let taken = 0;
  for (const item of items) {
    yield item;
    if (++taken >= count) return;
  }
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

/** The input's usable profiles, read again at each call; rejections as the first complete read found them. */
interface ProfileInput {
  readonly format: ProfileFormat;
  read(): Generator<Profile>;
  rejected(): InputRejection[];
}

/** Bytes of the file's head that tell JSONL (read a line at a time) from a JSON document (parsed whole). */
const HEAD_BYTES = 64 * 1024;

/** The file's chunks, read again at each call. */
function chunksOf(source: ProfileSource): Iterable<Uint8Array> {
  return typeof source.bytes === 'function' ? source.bytes() : [source.bytes];
}

/** The first `size` bytes of the file (fewer when it is shorter), reading no further. */
function headOf(source: ProfileSource, size: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let length = 0;
  for (const chunk of chunksOf(source)) {
    parts.push(chunk);
    length += chunk.length;
    if (length >= size) break;
  }
  return Buffer.concat(parts).subarray(0, size);
}

function openProfiles(spec: RunSpec, source: ProfileSource): ProfileInput {
  const lines = jsonLinesFormat(headOf(source, HEAD_BYTES), spec.format);
  if (lines === undefined) {
    let loaded: LoadedProfiles;
    try {
      const whole = typeof source.bytes === 'function' ? Buffer.concat([...source.bytes()]) : source.bytes;
      loaded = excludeCharacters(parseProfiles(whole, source.location, spec.format), spec.excludeNames);
    } catch (error) {
      if (error instanceof ProfileFormatError) throw new RunSpecError([{ message: error.message }]);
      throw error;
    }
    return {
      format: loaded.format,
      *read() {
        yield* loaded.profiles;
      },
      rejected: () => loaded.rejected,
    };
  }
  const excluded = new Set(spec.excludeNames.map(canonicalText));
  let found: InputRejection[] | undefined;
  // Which records (by their place among the file's records) became profiles, once a read has finished: a
  // later read makes only those, without the duplicate check's memory of every name.
  let usable: RecordSet | undefined;
  return {
    format: lines,
    *read() {
      let ordinal = -1;
      const records = function* (): Generator<RawProfileRecord> {
        for (const record of jsonLineRecords(chunksOf(source), source.location, lines, unreadable)) {
          ordinal++;
          if (usable === undefined || usable.has(ordinal)) yield record;
        }
      };
      const unreadable: InputRejection[] = [];
      if (usable !== undefined) {
        yield* normalizedProfiles(records(), [], true);
        return;
      }
      const invalid: InputRejection[] = [];
      const refused: InputRejection[] = [];
      const made = new RecordSet();
      // normalizedProfiles takes the next record only after the profile of this one is taken: `ordinal` is its record's.
      for (const profile of normalizedProfiles(records(), invalid)) {
        const rejection = exclusion(profile, excluded);
        if (rejection !== undefined) refused.push(rejection);
        else {
          made.add(ordinal);
          yield profile;
        }
      }
      // The order parseProfiles and excludeCharacters give: unreadable lines, invalid records, excluded characters.
      found ??= [...unreadable, ...invalid, ...refused];
      usable ??= made;
    },
    rejected: () => found ?? [],
  };
}

/** A set of record numbers, one bit each. */
class RecordSet {
  private bits = new Uint8Array(1024);

  add(index: number): void {
    if (index >> 3 >= this.bits.length) {
      const grown = new Uint8Array(Math.max(this.bits.length * 2, (index >> 3) + 1));
      grown.set(this.bits);
      this.bits = grown;
    }
    this.bits[index >> 3] = (this.bits[index >> 3] ?? 0) | (1 << (index & 7));
  }

  has(index: number): boolean {
    return ((this.bits[index >> 3] ?? 0) & (1 << (index & 7))) !== 0;
  }
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
    const rejection = exclusion(profile, excluded);
    if (rejection === undefined) kept.push(profile);
    else rejected.push(rejection);
  }
  return { ...loaded, profiles: kept, rejected };
}

function exclusion(profile: Profile, excluded: ReadonlySet<string>): InputRejection | undefined {
  if (excluded.size === 0) return undefined;
  const listed = [profile.name, ...profile.aliases].find((name) => excluded.has(canonicalText(name)));
  if (listed === undefined) return undefined;
  return {
    location: profile.location,
    reason: `character ${JSON.stringify(listed)} is on the list of names to exclude (an evaluation character): kept out of the training data; take it off the list to use it`,
  };
}
