/**
 * The CLI's side of the RunSpec: which flag sets which field, and problems rendered in flag terms. The
 * flags carry no defaults of their own; RunSpec fills them, and help texts show RUN_DEFAULTS.
 */
import { renderProblems, RunSpecError, type RunField } from '../core/run/run-spec.ts';
import { printable } from './terminal-text.ts';
import { UsageError } from './usage-error.ts';

/** Fields whose flag is not simply the field name in kebab case. */
const FLAG_NAMES: Partial<Record<RunField, string>> = {
  endpoints: '--endpoint',
  requestTimeoutSeconds: '--request-timeout',
};

export function flagOf(field: RunField): string {
  return FLAG_NAMES[field] ?? `--${field.replace(/[A-Z]/gu, (letter) => `-${letter.toLowerCase()}`)}`;
}

/**
 * A RunSpec problem as the CLI shows it (exit 2, no stack); anything else passes through. Messages may
 * quote the profile file (a refused record's reason), so each is made printable.
 */
export function asUsageError(error: unknown): unknown {
  if (!(error instanceof RunSpecError)) return error;
  return new UsageError(
    renderProblems(
      error.problems.map((problem) => ({ ...problem, message: printable(problem.message) })),
      flagOf,
    ),
  );
}

/** Runs `work`, turning RunSpec problems into usage errors in flag terms. */
export async function withFlagErrors<T>(work: () => Promise<T> | T): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw asUsageError(error);
  }
}

/** Commander's options for `raiden generate` as the raw RunSpec fields they set. */
export function runSpecFields(opts: Record<string, unknown>): Record<string, unknown> {
  const strategy = opts.strategy as string | undefined;
  const backend = opts.backend as string | undefined;
  if (strategy !== undefined && backend !== undefined && strategy !== backend) {
    throw new UsageError(
      `--backend ${backend} and --strategy ${strategy} disagree: --backend picks a single-backend strategy; give one of them`,
    );
  }
  const lists = (value: unknown) =>
    (value as string[] | undefined)
      ?.flatMap((item) => item.split(','))
      .map((item) => item.trim())
      .filter((item) => item !== '');
  return {
    profiles: opts.profiles,
    format: opts.format,
    endpoints: opts.endpoint,
    model: opts.model,
    samplesPerProfile: opts.samplesPerProfile,
    includeCm: opts.includeCm,
    cmPerProfile: opts.cmPerProfile,
    maxProfiles: opts.maxProfiles,
    language: opts.language,
    concurrency: opts.concurrency,
    maxAttempts: opts.maxAttempts,
    validationRatio: opts.validationRatio,
    validationProfiles: opts.validationProfiles,
    seed: opts.seed,
    requestTimeoutSeconds: opts.requestTimeout,
    maxRetries: opts.maxRetries,
    maxResponseBytes: opts.maxResponseBytes,
    maxTokens: opts.maxTokens,
    temperature: opts.temperature,
    strategy: strategy ?? backend,
    bedrockModel: opts.bedrockModel,
    bedrockRegion: opts.bedrockRegion,
    bedrockEndpoint: opts.bedrockEndpoint,
    bedrockMaxConcurrency: opts.bedrockMaxConcurrency,
    bedrockBatch: opts.bedrockBatch === undefined ? undefined : String(opts.bedrockBatch).replace(/\/+$/u, ''),
    bedrockBatchRole: opts.bedrockBatchRole,
    bedrockBatchTimeoutHours: opts.bedrockBatchTimeoutHours,
    bedrockBatchPollSeconds: opts.bedrockBatchPollSeconds,
    candidates: opts.candidates,
    minScore: opts.minScore,
    judgeModel: opts.judgeModel,
    seedData: opts.seedData,
    seedProfiles: opts.seedProfiles,
    evaluateSamples: opts.evaluateSamples,
    keywordAgreementModels: lists(opts.keywordAgreementModels),
    difficultyStudentModel: opts.difficultyStudentModel,
    excludeNames: opts.excludeNames,
    priceFile: opts.priceFile,
  };
}
