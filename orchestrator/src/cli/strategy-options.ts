import { Option, type Command } from 'commander';
import { RUN_DEFAULTS, TIME_LIMITS } from '../core/run/run-spec.ts';
import { STRATEGY_NAMES } from '../core/strategies/names.ts';
import { collect, integerAtLeast, integerBetween, numberBetween, profileShare, secondsUpTo } from './option-parsers.ts';

const d = RUN_DEFAULTS;

/** `--strategy`, `--backend`, the Bedrock flags and the quality gates of `raiden generate`; defaults come from the RunSpec. */
export function addStrategyOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--strategy <name>', `which backend writes what: ${STRATEGY_NAMES.join(', ')} (default: ${d.strategy})`).choices(
        STRATEGY_NAMES,
      ),
    )
    .addOption(
      new Option('--backend <name>', 'one backend for everything (same as --strategy sglang|bedrock)').choices(['sglang', 'bedrock']),
    )
    .option('--bedrock-model <id>', `Bedrock model id or inference profile id (default: ${d.bedrockModel})`)
    .addOption(new Option('--bedrock-region <region>', 'Bedrock region (default: AWS_REGION, then us-east-1)').env('AWS_REGION'))
    .option('--bedrock-endpoint <url>', 'Bedrock Runtime endpoint URL (a VPC endpoint, or a local test server)')
    .option(
      '--bedrock-batch <s3-uri>',
      'bedrock, Claude models: answer the open slots with batch inference first (half price, takes hours; fewer than 100 open slots run on demand); input and output under this s3://bucket/prefix; --dry-run previews the job',
    )
    .option('--bedrock-batch-role <arn>', 'with --bedrock-batch: the service role Bedrock assumes to read and write that S3 location')
    .option(
      '--bedrock-batch-timeout-hours <n>',
      `with --bedrock-batch: hours after which Bedrock stops a job and keeps what it did (default ${d.bedrockBatchTimeoutHours})`,
      integerBetween(24, 168),
    )
    .option(
      '--bedrock-batch-poll-seconds <s>',
      `with --bedrock-batch: seconds between job status checks (default ${d.bedrockBatchPollSeconds}, at most ${TIME_LIMITS.bedrockBatchPollSeconds})`,
      secondsUpTo(TIME_LIMITS.bedrockBatchPollSeconds),
    )
    .option(
      '--bedrock-max-concurrency <n>',
      `ceiling of Bedrock requests in flight per model; the adaptive limit starts at 4 and grows to it (default ${d.bedrockMaxConcurrency})`,
      integerAtLeast(1),
    )
    .option('--candidates <k>', `filter: SGLang candidates per slot, judged by Bedrock (default ${d.candidates})`, integerAtLeast(1))
    .option('--min-score <s>', `filter and evaluation: lowest judge score (1-10) that passes (default ${d.minScore})`, numberBetween(1, 10))
    .option('--judge-model <id>', 'Bedrock model that judges (filter) and evaluates (iterative) (default: --bedrock-model)')
    .option(
      '--seed-data <path>',
      'iterative: samples.jsonl (or run directory) of an earlier run, used as few-shot seeds instead of new Bedrock seeds',
    )
    .option(
      '--seed-profiles <n|r>',
      `iterative: profiles (count or share) Bedrock writes seeds for (default ${d.seedProfiles})`,
      profileShare,
    )
    .option(
      '--evaluate-samples <n>',
      `iterative: SGLang samples the judge evaluates afterwards (default ${d.evaluateSamples})`,
      integerAtLeast(0),
    )
    .option(
      '--validation-profiles <n|r>',
      'profiles (count or share) in validation.json, overrides --validation-ratio; tiered writes exactly these on Bedrock',
      profileShare,
    )
    .option(
      '--keyword-agreement-models <list>',
      'gate: keep a sample (SBK or CM) only if these models (comma-separated bedrock:<id> or sglang:<model>[@url]; repeatable) all answer with its keywords',
      collect,
    )
    .option(
      '--difficulty-student-model <model>',
      'gate: keep only samples this model (bedrock:<id> or sglang:<model>[@url]) answers right in some but not all of 4 tries (a measured difficulty)',
    )
    .option('--price-file <path>', 'JSON price overrides merged over the built-in price table (see docs/generate.md, Cost)');
}
