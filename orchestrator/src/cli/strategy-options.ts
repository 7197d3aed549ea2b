import { Option, type Command } from 'commander';
import { bedrockPrice, DEFAULT_BEDROCK_MODEL } from '../core/model-prices.ts';
import { STRATEGY_NAMES, type StrategyName } from '../core/strategies/strategy.ts';
import { DEFAULT_BEDROCK_MAX_CONCURRENCY } from '../llm/bedrock-settings.ts';
import { bedrockBatchFlagsFrom, DEFAULT_BATCH_POLL_SECONDS, DEFAULT_BATCH_TIMEOUT_HOURS } from './bedrock-batch-prefetch.ts';
import { collect, integerAtLeast, integerBetween, numberBetween, positiveNumber, profileShare } from './option-parsers.ts';
import type { ProfileShare } from '../core/dataset-split.ts';
import { DEFAULT_STRATEGY_FLAGS, type StrategyFlags } from './strategy-setup.ts';
import { UsageError } from './usage-error.ts';

/** `--strategy`, `--backend`, the Bedrock flags and the quality gates of `raiden generate`. */
export function addStrategyOptions(command: Command): Command {
  const d = DEFAULT_STRATEGY_FLAGS;
  return command
    .addOption(new Option('--strategy <name>', 'which backend writes what: sglang, bedrock, tiered, filter, iterative (default: sglang)').choices(STRATEGY_NAMES))
    .addOption(new Option('--backend <name>', 'one backend for everything (same as --strategy sglang|bedrock)').choices(['sglang', 'bedrock']))
    .option('--bedrock-model <id>', 'Bedrock model id or inference profile id', DEFAULT_BEDROCK_MODEL)
    .addOption(new Option('--bedrock-region <region>', 'Bedrock region (default: AWS_REGION, then us-east-1)').env('AWS_REGION'))
    .option('--bedrock-endpoint <url>', 'Bedrock Runtime endpoint URL (a VPC endpoint, or a local test server)')
    .option('--bedrock-batch <s3-uri>', 'bedrock: answer the open slots with batch inference first (at least 100; half price, takes hours); input and output under this s3://bucket/prefix')
    .option('--bedrock-batch-role <arn>', 'with --bedrock-batch: the service role Bedrock assumes to read and write that S3 location')
    .option('--bedrock-batch-timeout-hours <n>', `with --bedrock-batch: hours after which Bedrock stops a job and keeps what it did (default ${DEFAULT_BATCH_TIMEOUT_HOURS})`, integerBetween(24, 168))
    .option('--bedrock-batch-poll-seconds <s>', `with --bedrock-batch: seconds between job status checks (default ${DEFAULT_BATCH_POLL_SECONDS})`, positiveNumber)
    .option('--bedrock-max-concurrency <n>', 'ceiling of Bedrock requests in flight per model; the adaptive limit starts at 4 and grows to it', integerAtLeast(1), DEFAULT_BEDROCK_MAX_CONCURRENCY)
    .option('--candidates <k>', 'filter: SGLang candidates per slot, judged by Bedrock', integerAtLeast(1), d.candidates)
    .option('--min-score <s>', 'filter and evaluation: lowest judge score (1-10) that passes', numberBetween(1, 10), d.minScore)
    .option('--judge-model <id>', 'Bedrock model that judges (filter) and evaluates (iterative) (default: --bedrock-model)')
    .option('--seed-data <path>', 'iterative: samples.jsonl (or run directory) of an earlier run, used as few-shot seeds instead of new Bedrock seeds')
    .option('--seed-profiles <n|r>', 'iterative: profiles (count or share) Bedrock writes seeds for', profileShare, d.seedProfiles)
    .option('--evaluate-samples <n>', 'iterative: SGLang samples the judge evaluates afterwards', integerAtLeast(0), d.evaluateSamples)
    .option('--validation-profiles <n|r>', 'profiles (count or share) in validation.json, overrides --validation-ratio; tiered writes exactly these on Bedrock', profileShare)
    .option('--keyword-agreement-models <list>', 'gate: keep an SBK sample only if these models (comma-separated bedrock:<id> or sglang:<model>[@url]; repeatable) all answer with its keywords', collect)
    .option('--difficulty-student-model <model>', 'gate: keep only samples this model (bedrock:<id> or sglang:<model>[@url]) answers without every keyword')
    .option('--price-file <path>', 'JSON price overrides merged over the built-in price table (see README)');
}

export function strategyFlagsFrom(opts: Record<string, unknown>): StrategyFlags {
  const strategy = opts.strategy as StrategyName | undefined;
  const backend = opts.backend as 'sglang' | 'bedrock' | undefined;
  if (strategy !== undefined && backend !== undefined && strategy !== backend) {
    throw new UsageError(`--backend ${backend} and --strategy ${strategy} disagree: --backend picks a single-backend strategy; give one of them`);
  }
  const chosen = strategy ?? backend ?? 'sglang';
  return {
    strategy: chosen,
    bedrockModel: opts.bedrockModel as string,
    bedrockRegion: opts.bedrockRegion as string | undefined,
    bedrockEndpoint: opts.bedrockEndpoint as string | undefined,
    bedrockMaxConcurrency: opts.bedrockMaxConcurrency as number,
    bedrockBatch: bedrockBatchFlagsFrom(opts, chosen),
    candidates: opts.candidates as number,
    minScore: opts.minScore as number,
    judgeModel: opts.judgeModel as string | undefined,
    seedData: opts.seedData as string | undefined,
    seedProfiles: opts.seedProfiles as ProfileShare,
    evaluateSamples: opts.evaluateSamples as number,
    validationProfiles: opts.validationProfiles as ProfileShare | undefined,
    keywordAgreementModels: ((opts.keywordAgreementModels as string[] | undefined) ?? []).flatMap((list) => list.split(',')).filter((spec) => spec.trim() !== ''),
    difficultyStudentModel: opts.difficultyStudentModel as string | undefined,
    priceFile: opts.priceFile as string | undefined,
  };
}

/** The estimate's Bedrock prices: the flags when given, else the price table's entry for --bedrock-model. */
export function bedrockEstimatePrices(opts: Record<string, unknown>, fallback: { input: number; output: number; batchFactor: number }) {
  const price = bedrockPrice(opts.bedrockModel as string);
  return {
    bedrockInputUsdPerMTok: (opts.bedrockInputUsd as number | undefined) ?? price?.inputUsdPerMTok ?? fallback.input,
    bedrockOutputUsdPerMTok: (opts.bedrockOutputUsd as number | undefined) ?? price?.outputUsdPerMTok ?? fallback.output,
    bedrockBatchFactor: price?.batchFactor ?? fallback.batchFactor,
  };
}
