/**
 * Every deploy-time setting, parsed once from CDK context (cdk.json plus `-c key=value`) with zod.
 * Field checks live in the schema; checks across fields live in `resolveConfig`. Every error names the
 * context key, the value and the fix.
 */
import { z } from 'zod';
import { DEFAULT_INSTANCE_TYPE, instanceFacts } from './instance-types.ts';
import { LAYOUT_PRESETS, layoutProblems, presetServers, replicaServers, withDefaults } from './fleet-layout.ts';
import { modelFitAdvice } from './model-fit.ts';
import type { ServerInput, ServerSpec } from './fleet-layout.ts';
import { DEFAULT_DLAMI_SSM_PARAMETER, DEFAULT_SGLANG_IMAGE, DEFAULT_SGLANG_PIP_VERSION } from './sglang-defaults.ts';

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid raiden configuration (cdk.json context or -c key=value):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Used when no account is configured, so `cdk synth` works without AWS credentials. */
export const PLACEHOLDER_ACCOUNT = '000000000000';
export const DEFAULT_REGION = 'us-east-1';

export const CAPACITY_TYPES = ['on-demand', 'spot', 'capacity-reservation', 'capacity-block'] as const;
export type CapacityType = (typeof CAPACITY_TYPES)[number];

export const SGLANG_RUNTIMES = ['docker', 'pip'] as const;

/** CloudWatch Logs accepts only these retention periods. */
const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922];

// `-c key=value` always arrives as a string; cdk.json may hold real numbers, booleans and arrays.
const fromString =
  (convert: (text: string) => unknown) =>
  (value: unknown): unknown =>
    typeof value === 'string' ? convert(value.trim()) : value;
const asNumber = fromString((t) => (t !== '' && !Number.isNaN(Number(t)) ? Number(t) : t));
const asBoolean = fromString((t) => (t === 'true' ? true : t === 'false' ? false : t));
const asList = fromString((t) =>
  t.startsWith('[')
    ? parseJson(t)
    : t
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
);
const asJson = fromString(parseJson);

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * A servers value that is text, not a list: usually the shell or the CDK CLI cut it. `cdk -c key=value`
 * keeps only the first line of a value, so a list written over several lines arrives as "[".
 */
function serversTypeError(issue: { input?: unknown }): string | undefined {
  if (typeof issue.input !== 'string') return undefined;
  const text = issue.input.trim();
  const cut = text.startsWith('[') && !text.endsWith(']');
  return cut
    ? 'the JSON list stops early: cdk -c keeps only the first line of a value, so write the whole list on one line inside single quotes, e.g. -c \'servers=[{"name":"a","model":"org/name","gpus":[0],"port":30000}]\''
    : 'expected a JSON list of servers: quote it for the shell as one argument, on one line, e.g. -c \'servers=[{"name":"a","model":"org/name","gpus":[0],"port":30000}]\'';
}

const int = (min: number, max: number) => z.preprocess(asNumber, z.number().int().min(min).max(max));
const decimal = (min: number, max: number) => z.preprocess(asNumber, z.number().min(min).max(max));
const pattern = (re: RegExp, example: string) => z.string().trim().regex(re, `expected something like ${example}`);
const list = <T extends z.ZodType>(item: T) => z.preprocess(asList, z.array(item));

const serverSchema = z
  .object({
    name: z.string(),
    model: z.string(),
    gpus: z.array(z.number().int()),
    tp: z.number().int().optional(),
    dp: z.number().int().optional(),
    port: z.number().int(),
    ncclPort: z.number().int().optional(),
    extraArgs: z.array(z.string()).optional(),
  })
  .strict();

export const settingsSchema = z
  .object({
    stackPrefix: pattern(/^[A-Z][A-Za-z0-9]{0,19}$/, 'Raiden (a capitalised word, up to 20 letters and digits)').default('Raiden'),
    account: pattern(/^\d{12}$/, '123456789012').optional(),
    region: pattern(/^[a-z]{2}(-[a-z]+)+-\d$/, 'us-east-1').optional(),
    availabilityZones: list(pattern(/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, 'us-east-1a')).optional(),
    vpcId: pattern(/^vpc-[0-9a-f]{8,17}$/, 'vpc-0123456789abcdef0').optional(),
    subnetIds: list(pattern(/^subnet-[0-9a-f]{8,17}$/, 'subnet-0123456789abcdef0')).optional(),
    vpcCidr: pattern(/^\d{1,3}(\.\d{1,3}){3}\/(1[6-9]|2[0-4])$/, '10.42.0.0/16').default('10.42.0.0/16'),
    natGateways: int(1, 3).default(1),
    instanceType: pattern(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, DEFAULT_INSTANCE_TYPE).default(DEFAULT_INSTANCE_TYPE),
    gpuCount: int(1, 16).optional(),
    maxInstances: int(1, 20).default(1),
    desiredInstances: int(0, 20).default(0),
    capacity: z.enum(CAPACITY_TYPES).default('on-demand'),
    capacityReservationId: pattern(/^cr-[0-9a-f]{8,17}$/, 'cr-0123456789abcdef0').optional(),
    layout: z.enum([...LAYOUT_PRESETS, 'custom']).default('tp8'),
    servers: z.preprocess(asJson, z.array(serverSchema, { error: serversTypeError })).optional(),
    models: list(z.string().trim().min(1)).default(['Qwen/Qwen2.5-72B-Instruct']),
    hfTokenSecretName: pattern(/^[A-Za-z0-9/_+=.@-]{1,512}$/, 'raiden/hf-token').optional(),
    sglangRuntime: z.enum(SGLANG_RUNTIMES).default('docker'),
    sglangImage: pattern(/^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?(@sha256:[a-f0-9]{64})?$/, DEFAULT_SGLANG_IMAGE).default(
      DEFAULT_SGLANG_IMAGE,
    ),
    sglangPipVersion: pattern(/^\d+\.\d+\.\d+(\.post\d+)?$/, DEFAULT_SGLANG_PIP_VERSION).default(DEFAULT_SGLANG_PIP_VERSION),
    memFractionStatic: decimal(0.1, 0.95).default(0.85),
    contextLength: int(512, 1_048_576).optional(),
    idleMinutes: int(5, 1440).default(30),
    maxHours: int(1, 168).default(12),
    healthTimeoutMinutes: int(5, 240).default(60),
    rootVolumeGiB: int(100, 16_000).default(300),
    amiSsmParameter: pattern(/^\/[A-Za-z0-9_./-]+$/, DEFAULT_DLAMI_SSM_PARAMETER).default(DEFAULT_DLAMI_SSM_PARAMETER),
    bedrockModelIds: list(
      pattern(/^(arn:aws[a-z-]*:bedrock:[^\s]+|[a-z0-9-]+\.[A-Za-z0-9.:_-]+)$/, 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'),
    ).default(['us.anthropic.claude-sonnet-4-5-20250929-v1:0']),
    logRetentionDays: z
      .preprocess(
        asNumber,
        z.number().refine((d) => LOG_RETENTION_DAYS.includes(d), `use one of ${LOG_RETENTION_DAYS.join(', ')}`),
      )
      .default(30),
    tempFileDays: int(1, 365).default(7),
    retainOutputs: z.preprocess(asBoolean, z.boolean()).default(false),
  })
  .strict();

/** The settings as written in context, with schema defaults applied. */
export type RaidenSettings = z.infer<typeof settingsSchema>;

/** The settings plus what is derived from them; what createStacks consumes. */
export interface RaidenConfig extends RaidenSettings {
  readonly account: string;
  readonly region: string;
  readonly availabilityZones: string[];
  readonly gpuCount: number;
  /** `tp8`, `tp4x2`, `dp8`, or `custom` when `servers` is given. */
  readonly layoutName: string;
  /** One entry per SGLang process: data-parallel replicas run as servers of their own (see replicaServers). */
  readonly resolvedServers: readonly ServerSpec[];
}

export interface LoadedConfig {
  readonly config: RaidenConfig;
  /** Things the user should know, for example that a placeholder account is in use. */
  readonly notes: readonly string[];
}

export const SETTING_KEYS = Object.keys(settingsSchema.shape) as (keyof RaidenSettings)[];

/**
 * Parses the raiden settings out of all CDK context. Keys with `:` or a leading `@` belong to CDK and
 * are ignored; any other unknown key is an error, so a typo never silently falls back to a default.
 */
export function parseConfig(context: Record<string, unknown>, env: Record<string, string | undefined> = {}): LoadedConfig {
  const ours: Record<string, unknown> = {};
  const unknown: string[] = [];
  for (const [key, value] of Object.entries(context)) {
    if (key.includes(':') || key.startsWith('@')) continue;
    if ((SETTING_KEYS as string[]).includes(key)) ours[key] = value;
    else unknown.push(key);
  }
  if (unknown.length > 0) {
    throw new ConfigError(
      unknown.map((key) => `context key "${key}" is not a raiden setting: remove it or use one of ${SETTING_KEYS.join(', ')}`),
    );
  }
  const parsed = settingsSchema.safeParse(ours);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const key = issue.path.map(String).join('.') || '(context)';
        const value = valueAt(ours, issue.path);
        return `${key} ${JSON.stringify(value) ?? 'undefined'} is invalid: ${issue.message}`;
      }),
    );
  }
  return resolveConfig(parsed.data, env);
}

/** The cross-field checks and derived values. */
export function resolveConfig(settings: RaidenSettings, env: Record<string, string | undefined> = {}): LoadedConfig {
  const problems: string[] = [];
  const notes: string[] = [];

  const account = settings.account ?? env.CDK_DEFAULT_ACCOUNT ?? PLACEHOLDER_ACCOUNT;
  if (account === PLACEHOLDER_ACCOUNT) {
    notes.push(
      `no AWS account given (-c account=... or AWS credentials): synthesizing for placeholder account ` +
        `${PLACEHOLDER_ACCOUNT}. Deploy with credentials or -c account=<your account id>.`,
    );
  }
  const region = settings.region ?? env.CDK_DEFAULT_REGION ?? DEFAULT_REGION;
  if (!settings.region && !env.CDK_DEFAULT_REGION) {
    notes.push(`no region given (-c region=... or AWS_REGION): using ${DEFAULT_REGION}.`);
  }
  const needsReservation = settings.capacity === 'capacity-reservation' || settings.capacity === 'capacity-block';
  // Explicit zones keep synth free of AZ lookups, which would need AWS credentials. No default guesses them
  // for a real account: an instance type is offered in some zone IDs of a region only
  // (DescribeInstanceTypeOfferings, location type availability-zone-id), and zone names map to zone IDs
  // differently in every account, so "<region>a" may be a zone without the type.
  let availabilityZones = settings.availabilityZones;
  if (!availabilityZones && account === PLACEHOLDER_ACCOUNT) {
    availabilityZones = (needsReservation ? ['a'] : ['a', 'b', 'c']).map((zone) => `${region}${zone}`);
  } else if (!availabilityZones) {
    problems.push(
      `availabilityZones is not set: ${settings.instanceType} is offered only in some zones of ${region}, and zone ` +
        `names differ between accounts. Run npx raiden doctor, which lists the zones of account ${account} that ` +
        `offer it, then deploy with -c availabilityZones=<those zones>`,
    );
    availabilityZones = [];
  }
  if (needsReservation && availabilityZones.length > 1) {
    problems.push(
      `availabilityZones ${JSON.stringify(availabilityZones)} has ${availabilityZones.length} zones, but capacity ` +
        `"${settings.capacity}" launches into one: a Capacity Block or On-Demand Capacity Reservation lives in a ` +
        `single Availability Zone and instances in any other zone cannot use it. Set -c availabilityZones=<its zone> ` +
        `(npx raiden doctor shows it)`,
    );
  }
  const foreignZones = availabilityZones.filter((zone) => !zone.startsWith(region));
  if (foreignZones.length > 0) {
    problems.push(
      `availabilityZones ${JSON.stringify(foreignZones)} are not in region ${region}: list zones of ${region}, ` + `for example ${region}a`,
    );
  }

  if (settings.vpcId && !settings.subnetIds?.length) {
    problems.push(
      `vpcId "${settings.vpcId}" is set but subnetIds is empty: list the private subnets (with internet egress) ` +
        `for the fleet, for example -c subnetIds=subnet-aaa,subnet-bbb`,
    );
  }
  if (settings.subnetIds?.length && !settings.vpcId) {
    problems.push(`subnetIds is set but vpcId is not: add -c vpcId=vpc-... or remove subnetIds to create a VPC`);
  }

  if (needsReservation && !settings.capacityReservationId) {
    problems.push(
      `capacity "${settings.capacity}" needs capacityReservationId: add -c capacityReservationId=cr-... ` +
        `(the id of the reservation or Capacity Block)`,
    );
  }
  if (!needsReservation && settings.capacityReservationId) {
    problems.push(
      `capacityReservationId "${settings.capacityReservationId}" is only used with capacity capacity-reservation ` +
        `or capacity-block, not "${settings.capacity}": set -c capacity=capacity-reservation or remove the id`,
    );
  }
  if (settings.desiredInstances > settings.maxInstances) {
    problems.push(
      `desiredInstances ${settings.desiredInstances} is more than maxInstances ${settings.maxInstances}: ` +
        `raise maxInstances or lower desiredInstances`,
    );
  }

  const facts = instanceFacts(settings.instanceType);
  let gpuCount = settings.gpuCount ?? facts?.gpus ?? 0;
  if (!facts && settings.gpuCount === undefined) {
    problems.push(
      `instanceType "${settings.instanceType}" is not in the instance table (lib/instance-types.ts): ` +
        `add -c gpuCount=<GPUs on it> or use one of the known types such as ${DEFAULT_INSTANCE_TYPE}`,
    );
  } else if (facts && settings.gpuCount !== undefined && settings.gpuCount !== facts.gpus) {
    problems.push(
      `gpuCount ${settings.gpuCount} does not match instanceType ${settings.instanceType}, which has ` +
        `${facts.gpus} GPUs: remove gpuCount`,
    );
    gpuCount = facts.gpus;
  }

  let layoutName: string = settings.layout;
  let inputs: ServerInput[];
  if (settings.servers) {
    // An explicit servers list replaces the preset, whatever `layout` says (cdk.json sets layout tp8).
    layoutName = 'custom';
    inputs = settings.servers.map((server) => {
      const dp = server.dp ?? 1;
      return { ...server, dp, tp: server.tp ?? Math.max(1, Math.floor(server.gpus.length / dp)) };
    });
  } else if (settings.layout === 'custom') {
    problems.push(`layout "custom" needs servers: add -c 'servers=[{"name":"a","model":"org/name","gpus":[0],"port":30000}]'`);
    inputs = [];
  } else {
    inputs = presetServers(settings.layout, settings.models);
    if (settings.models.length > inputs.length) {
      problems.push(
        `models lists ${settings.models.length} models but layout ${settings.layout} has ${inputs.length} ` +
          `server(s): give at most ${inputs.length} model(s), or use layout tp4x2 or servers for more`,
      );
    }
  }
  const layoutServers = withDefaults(inputs);
  if (gpuCount > 0 && inputs.length > 0) {
    problems.push(
      ...layoutProblems(
        layoutServers,
        { instanceType: settings.instanceType, gpuCount },
        settings.servers ? 'servers' : `layout ${layoutName}`,
      ),
    );
  }
  if (facts) {
    const fit = modelFitAdvice(layoutServers, facts.gpuMemoryGiB, settings.memFractionStatic);
    problems.push(...fit.problems);
    notes.push(...fit.notes);
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    config: { ...settings, account, region, availabilityZones, gpuCount, layoutName, resolvedServers: replicaServers(layoutServers) },
    notes,
  };
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value: unknown = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}
