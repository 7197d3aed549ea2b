/**
 * The input of one run of the AWS workflow: what a user pastes into the Step Functions console or what
 * `raiden start` sends. Every field but `profiles` has a default; a bad field fails the run in Plan with a
 * message that names it.
 */
import { z } from 'zod';
import type { ProfileShare } from './dataset-split.ts';
import { DEFAULT_BEDROCK_MODEL } from './model-prices.ts';
import { PROFILE_FORMATS } from './profile-formats.ts';
import { STRATEGY_DEFAULTS, STRATEGY_NAMES, type StrategyName } from './strategies/strategy.ts';

/** Every strategy of `raiden generate` runs in the workflow too (iterative in two phases of batches). */
export const WORKFLOW_STRATEGIES = STRATEGY_NAMES;
export type WorkflowStrategy = StrategyName;

export const TEARDOWN_MODES = ['always', 'keep'] as const;

/** Deployment-specific defaults the Plan Lambda reads from its environment. */
export interface WorkflowDefaults {
  readonly readinessTimeoutMinutes: number;
  readonly bedrockModel: string;
}

export const BUILT_IN_WORKFLOW_DEFAULTS: WorkflowDefaults = { readinessTimeoutMinutes: 45, bedrockModel: DEFAULT_BEDROCK_MODEL };

const wholeNumber = (min: number, max: number) => z.number().int(`expected a whole number from ${min} to ${max}`).min(min).max(max);

export function workflowInputSchema(defaults: WorkflowDefaults = BUILT_IN_WORKFLOW_DEFAULTS) {
  return z
    .object({
      profiles: z
        .string({ error: 'profiles is required: the s3://bucket/key of a profile file, e.g. "s3://my-inputs/roles.jsonl"' })
        .regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/.+$/u, 'expected an S3 URL such as "s3://my-inputs/roles.jsonl"'),
      format: z.enum(PROFILE_FORMATS).optional(),
      samplesPerProfile: wholeNumber(0, 100).default(2),
      includeCm: z.boolean().default(false),
      cmPerProfile: wholeNumber(0, 100).default(1),
      maxProfiles: wholeNumber(1, 1_000_000).optional(),
      strategy: z.enum(WORKFLOW_STRATEGIES).default('sglang'),
      language: z.enum(['zh', 'en', 'auto']).default('auto'),
      runId: z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$/u, 'use 1-80 letters, digits, "-" or "_", starting with a letter or digit')
        .optional(),
      teardown: z.enum(TEARDOWN_MODES).default('always'),
      seed: wholeNumber(0, 2 ** 31 - 1).default(42),
      maxAttempts: wholeNumber(1, 10).default(3),
      validationRatio: z.number().min(0).max(1).default(0.1),
      /** SGLang model name; by default each server's own. */
      model: z.string().min(1).optional(),
      bedrockModel: z.string().min(1).default(defaults.bedrockModel),
      /** filter: SGLang candidates per slot, judged by Bedrock. */
      candidates: wholeNumber(1, 10).default(STRATEGY_DEFAULTS.candidates),
      /** filter and iterative's evaluation: lowest judge score (1-10) that passes. */
      minScore: z.number().min(1).max(10).default(STRATEGY_DEFAULTS.minScore),
      /** filter and iterative: the Bedrock judge model; by default bedrockModel. */
      judgeModel: z.string().min(1).optional(),
      /** iterative: profiles Bedrock writes seeds for, a count (20) or a share (0.1); at least one. */
      seedProfiles: z
        .number()
        .positive()
        .refine((value) => value < 1 || Number.isInteger(value), 'expected a number of profiles (e.g. 20) or a share of them (e.g. 0.1)')
        .default(shareValue(STRATEGY_DEFAULTS.seedProfiles)),
      /** iterative: SGLang samples the judge evaluates in Finalize. */
      evaluateSamples: wholeNumber(0, 10_000).default(STRATEGY_DEFAULTS.evaluateSamples),
      maxTokens: wholeNumber(64, 32_768).default(2048),
      temperature: z.number().min(0).max(2).default(0.8),
      /** GPU instances to stand up (capped by the auto-scaling group's maximum). */
      instances: wholeNumber(1, 20).default(1),
      readinessTimeoutMinutes: wholeNumber(5, 240).default(defaults.readinessTimeoutMinutes),
      toleratedFailurePercent: z.number().min(0).max(100).default(5),
      /** Slots per GenerateBatch; by default sized to finish well inside the Lambda limit. */
      batchSlots: wholeNumber(1, 1000).optional(),
    })
    .strict();
}

function shareValue(share: ProfileShare): number {
  return 'count' in share ? share.count : share.share;
}

/** seedProfiles as `raiden generate --seed-profiles` reads it: a whole number counts, a fraction is a share. */
export function seedProfilesShare(value: number): ProfileShare {
  return value >= 1 ? { count: value } : { share: value };
}

export type WorkflowInput = z.infer<ReturnType<typeof workflowInputSchema>>;

export class WorkflowInputError extends Error {
  override readonly name = 'InvalidInput';
  constructor(readonly problems: readonly string[]) {
    super(`The run input is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Validates the console input, filling defaults; throws WorkflowInputError naming each bad field. */
export function parseWorkflowInput(raw: unknown, defaults: WorkflowDefaults = BUILT_IN_WORKFLOW_DEFAULTS): WorkflowInput {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new WorkflowInputError(['the input must be a JSON object such as {"profiles": "s3://my-inputs/roles.jsonl"}']);
  }
  const parsed = workflowInputSchema(defaults).safeParse(raw);
  if (parsed.success) return parsed.data;
  throw new WorkflowInputError(
    parsed.error.issues.map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}: remove it or use one of ${Object.keys(workflowInputSchema(defaults).shape).join(', ')}`;
      }
      const field = issue.path.map(String).join('.') || '(input)';
      const value = (raw as Record<string, unknown>)[String(issue.path[0])];
      return `${field} ${value === undefined ? '(missing)' : JSON.stringify(value)}: ${issue.message}`;
    }),
  );
}

/** SBK and CM counts per profile the input asks for. */
export function cmPerProfileOf(input: Pick<WorkflowInput, 'includeCm' | 'cmPerProfile'>): number {
  return input.includeCm ? input.cmPerProfile : 0;
}
