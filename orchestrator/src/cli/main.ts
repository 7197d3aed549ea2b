/**
 * One run, described once: what `raiden generate` flags and the workflow's input both parse into. Every
 * default lives here. A problem names the field by its id; each front door renders it in its own terms
 * (`--samples-per-profile` for the CLI, `samplesPerProfile` for the workflow).
 */
import { z } from 'zod';
import { parseS3Uri } from '../../contract/s3-uri.ts';
import { EXPORT_FORMATS } from '../export/export-formats.ts';
import { DEFAULT_MIN_SCORE } from '../review/judge.ts';
import { DEFAULT_BEDROCK_MODEL } from '../report/model-prices.ts';
import { PROFILE_FORMATS } from '../profiles/profile-formats.ts';
import { STRATEGY_NAMES } from '../strategies/names.ts';

export const DEFAULT_SGLANG_ENDPOINT = 'http://localhost:30000';

/** Every default of a run. Help texts read them from here. */
export const RUN_DEFAULTS = {
  samplesPerProfile: 2,
  includeCm: false,
  cmPerProfile: 1,
  language: 'auto',
  seed: 42,
  maxAttempts: 3,
  validationRatio: 0.1,
  strategy: 'sglang',
  endpoints: [DEFAULT_SGLANG_ENDPOINT],
  concurrency: 64,
  requestTimeoutSeconds: 300,
  maxRetries: 6,
  maxTokens: 2048,
  temperature: 0.8,
  bedrockModel: DEFAULT_BEDROCK_MODEL,
  /** Ceiling of Bedrock requests in flight per model; the adaptive limit starts low and grows to it. */
  bedrockMaxConcurrency: 32,
  bedrockBatchTimeoutHours: 24,
  bedrockBatchPollSeconds: 60,
  /** filter: SGLang candidates per slot. */
  candidates: 3,
  /** filter and evaluation: lowest judge score (1-10) that passes. */
  minScore: DEFAULT_MIN_SCORE,
  /** iterative: profiles Bedrock writes seeds for: a count (20) or a share (0.1), at least one. */
  seedProfiles: 0.1,
  /** iterative: SGLang samples the judge evaluates after generation. */
  evaluateSamples: 50,
  /** Workflow: GPU instances, minutes to wait for the servers, share of batches that may fail. */
  instances: 1,
  readinessTimeoutMinutes: 45,
  toleratedFailurePercent: 5,
  teardown: 'always',
} as const;

export const LANGUAGES = ['zh', 'en', 'auto'] as const;
export const TEARDOWN_MODES = ['always', 'keep'] as const;

const wholeNumber = (min: number, max: number) => z.number().int(`expected a whole number from ${min} to ${max}`).min(min).max(max);

/** A number of profiles (`20`) or a share of them (`0.1`). */
const profileShare = z
  .number()
  .positive()
  .refine((value) => value < 1 || Number.isInteger(value), 'expected a number of profiles (e.g. 20) or a share of them (e.g. 0.1)');

/** A gate model: `bedrock:<model id>`, `sglang:<model>[@<endpoint>]`, or a bare Bedrock model id. */
const modelSpec = z
  .string()
  .trim()
  .refine((value) => /^(?:bedrock:|sglang:)?[^\s@:][^\s@]*(?:@https?:\/\/\S+)?$/u.test(value) && !/^(?:bedrock|sglang):$/u.test(value), {
    message: 'expected bedrock:<model id> or sglang:<model>[@http://host:port], e.g. bedrock:us.anthropic.claude-haiku-4-5-20251001-v1:0',
  });

const s3Prefix = z
  .string()
  .refine((value) => parseS3Uri(value) !== undefined, 'is not an S3 location: give s3://bucket/prefix, in a bucket of the Bedrock region');

/** The fields every front door shares: what to generate, how, and with which models. */
const runFields = {
  profiles: z.string({ error: 'is required: the profile file to read' }).min(1),
  format: z.enum(PROFILE_FORMATS).optional(),
  samplesPerProfile: wholeNumber(0, 10_000).default(RUN_DEFAULTS.samplesPerProfile),
  includeCm: z.boolean().default(RUN_DEFAULTS.includeCm),
  /** CM samples per profile; giving it implies includeCm. */
  cmPerProfile: wholeNumber(0, 10_000).optional(),
  maxProfiles: wholeNumber(1, 10_000_000).optional(),
  language: z.enum(LANGUAGES).default(RUN_DEFAULTS.language),
  seed: wholeNumber(0, 2 ** 31 - 1).default(RUN_DEFAULTS.seed),
  maxAttempts: wholeNumber(1, 100).default(RUN_DEFAULTS.maxAttempts),
  validationRatio: z.number().min(0).max(1).default(RUN_DEFAULTS.validationRatio),
  /** Profiles in validation.json as a count or share; overrides validationRatio (tiered writes exactly these on Bedrock). */
  validationProfiles: profileShare.optional(),
  strategy: z.enum(STRATEGY_NAMES).default(RUN_DEFAULTS.strategy),
  /** SGLang model name; by default each server's own. */
  model: z.string().min(1).optional(),
  maxTokens: wholeNumber(64, 32_768).default(RUN_DEFAULTS.maxTokens),
  temperature: z.number().min(0).max(2).default(RUN_DEFAULTS.temperature),
  bedrockModel: z.string().min(1).default(RUN_DEFAULTS.bedrockModel),
  candidates: wholeNumber(1, 10).default(RUN_DEFAULTS.candidates),
  minScore: z.number().min(1).max(10).default(RUN_DEFAULTS.minScore),
  /** filter and iterative: the Bedrock judge model; by default bedrockModel. */
  judgeModel: z.string().min(1).optional(),
  seedProfiles: profileShare.default(RUN_DEFAULTS.seedProfiles),
  evaluateSamples: wholeNumber(0, 100_000).default(RUN_DEFAULTS.evaluateSamples),
  /** Gate: keep an SBK sample only if every one of these models answers with its keywords. */
  keywordAgreementModels: z.array(modelSpec).default([]),
  /** Gate: keep only samples this model answers right sometimes but not always (pass rate of 4 answers). */
  difficultyStudentModel: modelSpec.optional(),
  /** Characters to keep out of the data (an evaluation benchmark's): profiles with one of these names or aliases are refused. */
  excludeNames: z.array(z.string().trim().min(1)).default([]),
};

/** Fields of a run on this machine: endpoints, transport, local files. */
const localFields = {
  endpoints: z
    .array(z.string().min(1))
    .min(1)
    .default([...RUN_DEFAULTS.endpoints]),
  concurrency: wholeNumber(1, 100_000).default(RUN_DEFAULTS.concurrency),
  requestTimeoutSeconds: z.number().positive().default(RUN_DEFAULTS.requestTimeoutSeconds),
  maxRetries: wholeNumber(0, 100).default(RUN_DEFAULTS.maxRetries),
  /** Largest model response read, in bytes (the SGLang backend's 16 MiB when absent); a larger one is a rejected attempt. */
  maxResponseBytes: wholeNumber(1024, 256 * 1024 * 1024).optional(),
  bedrockRegion: z.string().min(1).optional(),
  bedrockEndpoint: z.string().min(1).optional(),
  bedrockMaxConcurrency: wholeNumber(1, 10_000).default(RUN_DEFAULTS.bedrockMaxConcurrency),
  /** iterative: samples.jsonl (or the directory) of an earlier run, used as seeds instead of new Bedrock seeds. */
  seedData: z.string().min(1).optional(),
  /** JSON price overrides merged over the built-in price table. */
  priceFile: z.string().min(1).optional(),
  /** bedrock: answer the open slots with batch inference first, under this s3://bucket/prefix. */
  bedrockBatch: s3Prefix.optional(),
  bedrockBatchRole: z
    .string()
    .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/\S+$/u, 'is not an IAM role ARN: give arn:aws:iam::<account>:role/<name>')
    .optional(),
  bedrockBatchTimeoutHours: wholeNumber(24, 168).optional(),
  bedrockBatchPollSeconds: z.number().positive().optional(),
};

/** Fields of a run of the AWS workflow: its id, the fleet, teardown and batching. */
const workflowFields = {
  runId: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$/u, 'use 1-80 letters, digits, "-" or "_", starting with a letter or digit')
    .optional(),
  teardown: z.enum(TEARDOWN_MODES).default(RUN_DEFAULTS.teardown),
  /** GPU instances to stand up (capped by the auto-scaling group's maximum). */
  instances: wholeNumber(1, 20).default(RUN_DEFAULTS.instances),
  readinessTimeoutMinutes: wholeNumber(5, 240).default(RUN_DEFAULTS.readinessTimeoutMinutes),
  toleratedFailurePercent: z.number().min(0).max(100).default(RUN_DEFAULTS.toleratedFailurePercent),
  /** Slots per GenerateBatch; by default sized to finish well inside the Lambda limit. */
  batchSlots: wholeNumber(1, 1000).optional(),
  /**
   * bedrock: the open slots go to Bedrock batch inference first (half price, hours to a day), through the
   * deployment's outputs bucket and batch service role; what it does not answer runs on demand.
   */
  bedrockBatchInference: z.boolean().default(false),
  /** Seconds between two status checks of the batch jobs. */
  batchPollSeconds: wholeNumber(10, 3600).default(RUN_DEFAULTS.bedrockBatchPollSeconds),
  /** Trainer exports Finalize writes under runs/<id>/exports/<format>/ (raiden export does the same locally). */
  exportFormats: z.array(z.enum(EXPORT_FORMATS)).default([]),
};

const localSpecSchema = z.object({ ...runFields, ...localFields }).strict();

/** A run as the core sees it: the shared fields, and the local and workflow fields each front door fills. */
export type RunSpec = z.infer<typeof localSpecSchema> & Partial<z.infer<z.ZodObject<typeof workflowFields>>>;
export type RunField = keyof typeof runFields | keyof typeof localFields | keyof typeof workflowFields;

/** Deployment-specific defaults the Plan Lambda reads from its environment. */
export interface WorkflowDefaults {
  readonly readinessTimeoutMinutes?: number | undefined;
  readonly bedrockModel?: string | undefined;
}

function workflowSchema(defaults: WorkflowDefaults) {
  return z
    .object({
      ...runFields,
      profiles: z
        .string({ error: 'is required: the s3://bucket/key of a profile file, e.g. "s3://my-inputs/roles.jsonl"' })
        .refine(
          (value) => parseS3Uri(value) !== undefined && !value.endsWith('/') && (parseS3Uri(value)?.key ?? '') !== '',
          'expected an S3 URL such as "s3://my-inputs/roles.jsonl"',
        ),
      bedrockModel: z
        .string()
        .min(1)
        .default(defaults.bedrockModel ?? RUN_DEFAULTS.bedrockModel),
      ...workflowFields,
      readinessTimeoutMinutes: workflowFields.readinessTimeoutMinutes.default(
        defaults.readinessTimeoutMinutes ?? RUN_DEFAULTS.readinessTimeoutMinutes,
      ),
    })
    .strict();
}

export type WorkflowSpec = z.infer<ReturnType<typeof workflowSchema>>;

/** Workflow input keys, for `raiden start` and the error that lists them. */
export const WORKFLOW_INPUT_FIELDS = Object.keys(workflowSchema({}).shape) as (keyof WorkflowSpec)[];

/** One problem with a run: `message` may name fields as `{fieldId}`, which each front door renders. */
export interface RunProblem {
  readonly field?: RunField | undefined;
  readonly message: string;
}

/** A run that cannot start as asked; each problem names its field. */
export class RunSpecError extends Error {
  override readonly name = 'InvalidInput';
  constructor(readonly problems: readonly RunProblem[]) {
    super(renderProblems(problems, (field) => field));
  }
}

/** Renders problems with field ids replaced by the front door's names for them (flags, input keys). */
export function renderProblems(problems: readonly RunProblem[], nameOf: (field: RunField) => string): string {
  const render = (text: string) => text.replace(/\{(\w+)\}/gu, (_, field: string) => nameOf(field as RunField));
  // A message that starts with ':' follows the field name directly ("--seed: the run used 42, ...").
  const after = (message: string) => (message.startsWith(':') ? render(message) : ` ${render(message)}`);
  return problems
    .map((problem) => (problem.field === undefined ? render(problem.message) : `${nameOf(problem.field)}${after(problem.message)}`))
    .join('\n');
}

function problemsOf(error: z.ZodError, raw: Record<string, unknown>, known: readonly string[]): RunProblem[] {
  return error.issues.map((issue): RunProblem => {
    if (issue.code === 'unrecognized_keys') {
      return {
        message: `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}: remove it or use one of ${known.join(', ')}`,
      };
    }
    const field = String(issue.path[0] ?? '') as RunField;
    const value = raw[field];
    const detail = issue.path.length > 1 ? `[${issue.path.slice(1).map(String).join('.')}] ` : '';
    return { field, message: `${detail}${value === undefined ? '(missing)' : JSON.stringify(value)}: ${issue.message}` };
  });
}

/** Cross-field rules both front doors share. */
function crossFieldProblems(
  spec: Omit<RunSpec, 'endpoints' | 'concurrency' | 'requestTimeoutSeconds' | 'maxRetries' | 'bedrockMaxConcurrency'> & Partial<RunSpec>,
): RunProblem[] {
  const problems: RunProblem[] = [];
  if (spec.bedrockBatchInference === true && spec.strategy !== 'bedrock') {
    problems.push({
      field: 'bedrockBatchInference',
      message: `works only with {strategy} bedrock, not with {strategy} ${spec.strategy}: batch inference writes every slot on Bedrock`,
    });
  }
  if (spec.bedrockBatch === undefined) {
    const stray = (['bedrockBatchRole', 'bedrockBatchTimeoutHours', 'bedrockBatchPollSeconds'] as const).filter(
      (key) => spec[key] !== undefined,
    );
    if (stray.length > 0)
      problems.push({ message: `${stray.map((key) => `{${key}}`).join(', ')} only apply with {bedrockBatch} s3://bucket/prefix` });
  } else {
    if (spec.strategy !== 'bedrock') {
      problems.push({
        field: 'bedrockBatch',
        message: `works only with {strategy} bedrock, not with {strategy} ${spec.strategy}: batch inference writes every slot on Bedrock`,
      });
    } else if (spec.bedrockBatchRole === undefined) {
      problems.push({
        field: 'bedrockBatch',
        message: `needs {bedrockBatchRole} ARN: the service role Bedrock assumes to read the input from and write the output to ${spec.bedrockBatch} (see docs/workflow.md, Bedrock batch inference)`,
      });
    }
  }
  return problems;
}

/** Parses a local run's fields (the CLI's flags) into a RunSpec, filling every default. */
export function parseRunSpec(raw: Record<string, unknown>): RunSpec {
  const defined = Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== undefined));
  const parsed = localSpecSchema.safeParse(defined);
  if (!parsed.success) throw new RunSpecError(problemsOf(parsed.error, defined, Object.keys(localSpecSchema.shape)));
  const problems = crossFieldProblems(parsed.data);
  if (problems.length > 0) throw new RunSpecError(problems);
  return parsed.data;
}

/** Parses the workflow's input (what a user pastes into the console) into a RunSpec with its workflow fields. */
export function parseWorkflowSpec(raw: unknown, defaults: WorkflowDefaults = {}): WorkflowSpec & RunSpec {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new RunSpecError([{ message: 'the input must be a JSON object such as {"profiles": "s3://my-inputs/roles.jsonl"}' }]);
  }
  const schema = workflowSchema(defaults);
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new RunSpecError(problemsOf(parsed.error, raw as Record<string, unknown>, Object.keys(schema.shape)));
  const problems = crossFieldProblems(parsed.data);
  if (problems.length > 0) throw new RunSpecError(problems);
  // The workflow has no local endpoints or transport flags: the fleet and the Lambda's limits decide them.
  return { ...localSpecSchema.parse({ profiles: parsed.data.profiles }), ...parsed.data };
}

/** CM samples per profile the spec asks for. */
export function cmPerProfileOf(spec: Pick<RunSpec, 'includeCm' | 'cmPerProfile'>): number {
  if (spec.cmPerProfile !== undefined) return spec.cmPerProfile;
  return spec.includeCm ? RUN_DEFAULTS.cmPerProfile : 0;
}

/** The validation share: validationProfiles (a count or share of the planned profiles) over validationRatio. */
export function validationRatioOf(spec: Pick<RunSpec, 'validationRatio' | 'validationProfiles'>, profiles: number): number {
  if (spec.validationProfiles === undefined || profiles === 0) return spec.validationRatio;
  return countOfShare(spec.validationProfiles, profiles) / profiles;
}

/** A count (>= 1) or share (< 1) of `total` profiles. */
export function countOfShare(value: number, total: number): number {
  return value >= 1 ? Math.min(value, total) : Math.round(total * value);
}
