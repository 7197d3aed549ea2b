import { z } from 'zod';

/**
 * The one price table: Bedrock on-demand list prices in us-east-1 and the p5en.48xlarge hourly rate, as of
 * this date. Used by the report and the dry-run estimate; override any entry with `--price-file`. Check
 * https://aws.amazon.com/bedrock/pricing/ and the EC2 Pricing API before budgeting a large run.
 */
export const PRICES_AS_OF = '2025-11-25';

/** p5en.48xlarge (8 x H200) on demand in us-east-1 after the mid-2025 price cut; about 98 USD/h before it. */
export const P5EN_USD_PER_HOUR = 63;

export interface ModelPrice {
  /** USD per million tokens. */
  readonly inputUsdPerMTok: number;
  readonly outputUsdPerMTok: number;
  /** Prompt-cache reads and writes; absent when the model cannot cache prompts on Bedrock. */
  readonly cacheReadUsdPerMTok?: number | undefined;
  readonly cacheWriteUsdPerMTok?: number | undefined;
  /** Batch inference price as a share of on-demand (0.5 = half price). */
  readonly batchFactor: number;
}

const claude = (input: number, output: number): ModelPrice => ({
  inputUsdPerMTok: input,
  outputUsdPerMTok: output,
  // Anthropic models: cache reads at 10% of input, 5-minute cache writes at 125%.
  cacheReadUsdPerMTok: input * 0.1,
  cacheWriteUsdPerMTok: input * 1.25,
  batchFactor: 0.5,
});

const nova = (input: number, output: number): ModelPrice => ({
  inputUsdPerMTok: input,
  outputUsdPerMTok: output,
  // Nova caches automatically; reads cost 25% of input and writes nothing extra.
  cacheReadUsdPerMTok: input * 0.25,
  cacheWriteUsdPerMTok: input,
  batchFactor: 0.5,
});

/** Keyed by base model id without region prefix or version suffix; the longest matching key wins. */
export const BEDROCK_PRICES: Readonly<Record<string, ModelPrice>> = {
  'anthropic.claude-sonnet-4-5': claude(3, 15),
  'anthropic.claude-sonnet-4': claude(3, 15),
  'anthropic.claude-3-7-sonnet': claude(3, 15),
  // Prompt caching on 3.5 Sonnet v2 stayed a preview; no cache prices.
  'anthropic.claude-3-5-sonnet': { inputUsdPerMTok: 3, outputUsdPerMTok: 15, batchFactor: 0.5 },
  'anthropic.claude-haiku-4-5': claude(1, 5),
  'anthropic.claude-3-5-haiku': claude(0.8, 4),
  'anthropic.claude-opus-4-5': claude(5, 25),
  'anthropic.claude-opus-4-1': claude(15, 75),
  'anthropic.claude-opus-4': claude(15, 75),
  'amazon.nova-pro': nova(0.8, 3.2),
  'amazon.nova-lite': nova(0.06, 0.24),
  'amazon.nova-micro': nova(0.035, 0.14),
};

export const DEFAULT_BEDROCK_MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';

export type PriceTable = Readonly<Record<string, ModelPrice>>;

/** `us.anthropic.claude-sonnet-4-5-20250929-v1:0` and ARNs of it name the base model `anthropic.claude-sonnet-4-5-...`. */
export function baseModelId(modelId: string): string {
  const last = modelId.split('/').pop() ?? modelId;
  return last.replace(/^(?:us|eu|apac|global|jp|au|ca|us-gov)\./u, '');
}

export function bedrockPrice(modelId: string, table: PriceTable = BEDROCK_PRICES): ModelPrice | undefined {
  const base = baseModelId(modelId);
  const key = Object.keys(table)
    .filter((candidate) => base === candidate || base.startsWith(`${candidate}-`) || base.startsWith(`${candidate}:`))
    .sort((a, b) => b.length - a.length)[0];
  return key === undefined ? undefined : table[key];
}

/** Whether Bedrock accepts a Converse cachePoint for this model (a cachePoint elsewhere is a ValidationException). */
export function supportsPromptCaching(modelId: string, table: PriceTable = BEDROCK_PRICES): boolean {
  return bedrockPrice(modelId, table)?.cacheReadUsdPerMTok !== undefined;
}

export interface TokenCounts {
  readonly input_tokens: number;
  readonly output_tokens: number;
  readonly cache_read_input_tokens?: number | undefined;
  readonly cache_write_input_tokens?: number | undefined;
}

export function tokenCostUsd(tokens: TokenCounts, price: ModelPrice, options: { batch?: boolean } = {}): number {
  const usd =
    tokens.input_tokens * price.inputUsdPerMTok +
    tokens.output_tokens * price.outputUsdPerMTok +
    (tokens.cache_read_input_tokens ?? 0) * (price.cacheReadUsdPerMTok ?? price.inputUsdPerMTok) +
    (tokens.cache_write_input_tokens ?? 0) * (price.cacheWriteUsdPerMTok ?? price.inputUsdPerMTok);
  return (usd / 1e6) * (options.batch ? price.batchFactor : 1);
}

const priceSchema = z.object({
  inputUsdPerMTok: z.number().nonnegative(),
  outputUsdPerMTok: z.number().nonnegative(),
  cacheReadUsdPerMTok: z.number().nonnegative().optional(),
  cacheWriteUsdPerMTok: z.number().nonnegative().optional(),
  batchFactor: z.number().positive().max(1).default(0.5),
});

const priceFileSchema = z.object({
  as_of: z.string().optional(),
  gpu_usd_per_hour: z.number().positive().optional(),
  bedrock: z.record(z.string(), priceSchema).default({}),
});

export interface Prices {
  readonly asOf: string;
  readonly gpuUsdPerHour: number;
  readonly bedrock: PriceTable;
}

export const DEFAULT_PRICES: Prices = { asOf: PRICES_AS_OF, gpuUsdPerHour: P5EN_USD_PER_HOUR, bedrock: BEDROCK_PRICES };

/**
 * Merges a price file over the built-in table: `{"as_of": "2026-01-10", "gpu_usd_per_hour": 55,
 * "bedrock": {"anthropic.claude-sonnet-4-5": {"inputUsdPerMTok": 3, "outputUsdPerMTok": 15}}}`.
 */
export function mergePriceFile(text: string, source: string, base: Prices = DEFAULT_PRICES): Prices {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(
      `${source} is not JSON (${(error as Error).message}): write {"bedrock": {"<model id>": {"inputUsdPerMTok": 3, "outputUsdPerMTok": 15}}}`,
      { cause: error },
    );
  }
  const parsed = priceFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `${source}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'is invalid'}: each price is a number of USD per million tokens`,
    );
  }
  const bedrock: Record<string, ModelPrice> = { ...base.bedrock };
  for (const [model, price] of Object.entries(parsed.data.bedrock)) bedrock[baseModelId(model)] = price;
  return {
    asOf: parsed.data.as_of ?? `${base.asOf} with overrides from ${source}`,
    gpuUsdPerHour: parsed.data.gpu_usd_per_hour ?? base.gpuUsdPerHour,
    bedrock,
  };
}
