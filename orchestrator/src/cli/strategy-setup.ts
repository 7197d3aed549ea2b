import { readFile } from 'node:fs/promises';
import type { ProfileShare } from '../core/dataset-split.ts';
import { DEFAULT_BEDROCK_MODEL, DEFAULT_PRICES, mergePriceFile, type Prices } from '../core/model-prices.ts';
import { difficultyGate, keywordAgreementGate, type GateModel, type QualityGate } from '../core/quality-gates.ts';
import type { Sample } from '../core/sample.ts';
import { strategyByName } from '../core/strategies/registry.ts';
import { STRATEGY_DEFAULTS } from '../core/strategies/strategy.ts';
import type { Strategy, StrategyBackends, StrategyName } from '../core/strategies/strategy.ts';
import type * as BedrockModuleNamespace from '../llm/bedrock-backend.ts';
import type { BedrockBackend } from '../llm/bedrock-backend.ts';

type BedrockModule = typeof BedrockModuleNamespace;
import { DEFAULT_BEDROCK_MAX_CONCURRENCY } from '../llm/bedrock-settings.ts';
import type { LlmBackend } from '../core/ports/llm-backend.ts';
import { readJsonLines } from '../store/jsonl.ts';
import type { BedrockBatchFlags } from './bedrock-batch-prefetch.ts';
import { UsageError } from './usage-error.ts';


/** The flags of `raiden generate` that choose backends, strategy and quality gates. */
export interface StrategyFlags {
  readonly strategy: StrategyName;
  readonly bedrockModel: string;
  readonly bedrockRegion?: string | undefined;
  readonly bedrockEndpoint?: string | undefined;
  readonly bedrockMaxConcurrency: number;
  /** `--bedrock-batch`: batch inference answers the open slots first (bedrock strategy only). */
  readonly bedrockBatch?: BedrockBatchFlags | undefined;
  readonly candidates: number;
  readonly minScore: number;
  readonly judgeModel?: string | undefined;
  readonly seedData?: string | undefined;
  readonly seedProfiles: ProfileShare;
  readonly evaluateSamples: number;
  readonly validationProfiles?: ProfileShare | undefined;
  readonly keywordAgreementModels: readonly string[];
  readonly difficultyStudentModel?: string | undefined;
  readonly priceFile?: string | undefined;
}

export const DEFAULT_STRATEGY_FLAGS: StrategyFlags = {
  strategy: 'sglang',
  bedrockModel: DEFAULT_BEDROCK_MODEL,
  bedrockMaxConcurrency: DEFAULT_BEDROCK_MAX_CONCURRENCY,
  ...STRATEGY_DEFAULTS,
  keywordAgreementModels: [],
};

/** Connects the run's SGLang endpoints (checking each answers), optionally for another model or endpoint. */
export type SglangConnector = (model?: string, endpoints?: readonly string[]) => Promise<LlmBackend>;

/** The backends, gates and prices a run uses, connected before any work is planned. */
export interface ConnectedRun {
  readonly strategy: Strategy;
  readonly backends: StrategyBackends;
  readonly gates: readonly QualityGate[];
  readonly prices: Prices;
  models(): string[];
  inFlight(): number;
}

export async function connectRun(
  flags: StrategyFlags,
  transport: { readonly requestTimeout: number; readonly maxRetries: number },
  connectSglang: SglangConnector,
): Promise<ConnectedRun> {
  const strategy = strategyByName(flags.strategy);
  const prices = await loadPricesFlag(flags.priceFile);
  const bedrockBackends = new Map<string, BedrockBackend>();
  let bedrockModule: BedrockModule | undefined;
  const bedrock = async (modelId: string) => {
    let backend = bedrockBackends.get(modelId);
    if (backend === undefined) {
      // Loaded on first use: an SGLang-only run never pays for the AWS SDK.
      bedrockModule ??= await import('../llm/bedrock-backend.ts');
      backend = new bedrockModule.BedrockBackend({
        modelId,
        region: flags.bedrockRegion,
        endpoint: flags.bedrockEndpoint,
        maxConcurrency: flags.bedrockMaxConcurrency,
        requestTimeoutMs: transport.requestTimeout * 1000,
        retry: { maxRetries: transport.maxRetries, baseDelayMs: 500, maxDelayMs: 20_000 },
      });
      bedrockBackends.set(modelId, backend);
    }
    return backend;
  };
  const all: LlmBackend[] = [];
  const backends: { -readonly [K in keyof StrategyBackends]: StrategyBackends[K] } = {};
  if (strategy.needs.sglang) all.push((backends.sglang = await connectSglang()));
  if (strategy.needs.bedrock) backends.bedrock = await bedrock(flags.bedrockModel);
  if (strategy.needs.judge) backends.judge = await bedrock(flags.judgeModel ?? flags.bedrockModel);

  const gateModel = async (spec: string, flag: string): Promise<GateModel> => {
    const { kind, model, endpoint } = parseModelSpec(spec, flag);
    if (kind === 'bedrock') return { label: `bedrock:${model}`, backend: await bedrock(model) };
    const backend = await connectSglang(model, endpoint === undefined ? undefined : [endpoint]);
    all.push(backend);
    return { label: `sglang:${model}`, backend };
  };
  const gates: QualityGate[] = [];
  if (flags.keywordAgreementModels.length > 0) {
    gates.push(keywordAgreementGate(await Promise.all(flags.keywordAgreementModels.map((spec) => gateModel(spec, '--keyword-agreement-models')))));
  }
  if (flags.difficultyStudentModel !== undefined) gates.push(difficultyGate(await gateModel(flags.difficultyStudentModel, '--difficulty-student-model')));
  all.push(...bedrockBackends.values());
  return {
    strategy,
    backends,
    gates,
    prices,
    models: () => [...new Set(all.flatMap((backend) => (backend.models?.() ?? []).map((model) => `${backend.name}:${model}`)))],
    inFlight: () => all.reduce((sum, backend) => sum + backend.inFlight(), 0),
  };
}

/** `bedrock:<model id>`, `sglang:<model>[@<endpoint>]`, or a bare Bedrock model id. */
export function parseModelSpec(spec: string, flag: string): { kind: 'bedrock' | 'sglang'; model: string; endpoint?: string } {
  const trimmed = spec.trim();
  if (trimmed.startsWith('sglang:')) {
    const [model, endpoint] = trimmed.slice('sglang:'.length).split('@');
    if (!model) throw new UsageError(`${flag} ${JSON.stringify(spec)}: name the model, e.g. sglang:Qwen/Qwen2.5-7B-Instruct@http://localhost:30001`);
    return { kind: 'sglang', model, ...(endpoint ? { endpoint } : {}) };
  }
  const model = trimmed.startsWith('bedrock:') ? trimmed.slice('bedrock:'.length) : trimmed;
  if (!model) throw new UsageError(`${flag} ${JSON.stringify(spec)}: name the model, e.g. bedrock:us.anthropic.claude-haiku-4-5-20251001-v1:0`);
  return { kind: 'bedrock', model };
}

/** The built-in price table, with `--price-file` merged over it when given. */
export async function loadPricesFlag(path: string | undefined): Promise<Prices> {
  if (path === undefined) return DEFAULT_PRICES;
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read --price-file ${path}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
  });
  try {
    return mergePriceFile(text, `--price-file ${path}`);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Samples of an earlier run (its samples.jsonl, or the run directory) to use as few-shot seeds. */
export async function loadSeedData(path: string): Promise<Sample[]> {
  const file = path.endsWith('.jsonl') ? path : `${path.replace(/\/+$/u, '')}/samples.jsonl`;
  const seeds: Sample[] = [];
  try {
    for await (const sample of readJsonLines<Sample>(file)) {
      if (typeof sample?.question === 'string' && typeof sample.metadata?.kind === 'string') seeds.push(sample);
    }
  } catch (error) {
    throw new UsageError(`cannot read --seed-data ${file}: ${(error as Error).message}`);
  }
  if (seeds.length === 0) throw new UsageError(`--seed-data ${file} holds no samples: pass the samples.jsonl (or the run directory) of an earlier run`);
  return seeds;
}
