import { readFile } from 'node:fs/promises';
import { Command, CommanderError, Option } from 'commander';
import packageJson from '../../../package.json' with { type: 'json' };
import { DEFAULT_COST_ASSUMPTIONS } from '../core/report/cost-estimate.ts';
import { DEFAULT_BEDROCK_MODEL } from '../core/report/model-prices.ts';
import { findNameField, flattenFields } from '../core/profiles/profile.ts';
import { PROFILE_FORMATS } from '../core/profiles/profile-formats.ts';
import type { ResponseCache } from '../core/ports/response-cache.ts';
import { RunFileError } from '../core/ports/run-store.ts';
import { LANGUAGES, parseRunSpec, RUN_DEFAULTS, TIME_LIMITS } from '../core/run/run-spec.ts';
import { addAwsCommands } from './aws-program.ts';
import { addExportCommand } from './export-command.ts';
import { addProbeRewardCommand } from './probe-reward-command.ts';
import { linkDocsPages } from './docs-pages.ts';
import { addReportCommand } from './report-command.ts';
import type { CliIo } from './cli-io.ts';
import { runEvaluate } from './evaluate-command.ts';
import { runGenerate, type GenerateOptions } from './generate-command.ts';
import { collect, integerAtLeast, numberBetween, oneOf, positiveNumber, secondsUpTo } from './option-parsers.ts';
import { addCacheOptions, openCacheOption } from './response-cache-options.ts';
import { addReverifyCommand } from './reverify-command.ts';
import { runSpecFields, withFlagErrors } from './run-spec-flags.ts';
import { addStrategyOptions } from './strategy-options.ts';
import { EXIT, UsageError } from './usage-error.ts';

/**
 * The names of --exclude-names: a JSON array of names, a JSON object keyed by name (a benchmark's npc.json or
 * CharacterEval profiles, whose name fields count too), or plain text with one name per line (# comments).
 */
async function readNameList(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read --exclude-names ${path}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
  });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return text
      .split(/\r?\n/u)
      .map((line) => line.trim())
      .filter((line) => line.length > 0 && !line.startsWith('#'));
  }
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string');
  if (typeof value === 'object' && value !== null)
    return Object.entries(value).flatMap(([key, inner]) => {
      const fields = typeof inner === 'object' && inner !== null ? flattenFields(inner as Record<string, unknown>) : {};
      const name = findNameField(fields);
      return name === undefined ? [key] : [key, name];
    });
  throw new UsageError(`--exclude-names ${path}: expected names one per line, a JSON array of names or a JSON object keyed by name`);
}

function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command()
    .name('raiden')
    .version(`raiden-datagen ${packageJson.version}`, '-V, --version', 'print the version')
    .description('Generate RAIDEN-R1 role-play training data (SBK and CM samples with verifiable keywords).')
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) })
    .showHelpAfterError('(run with --help for every flag)');

  const d = DEFAULT_COST_ASSUMPTIONS;
  const r = RUN_DEFAULTS;
  const generate = program
    .command('generate')
    .description('generate a dataset from character profiles on SGLang (OpenAI-compatible) endpoints, Bedrock, or both')
    .requiredOption('--profiles <path>', 'profile file (RAIDEN-R1 JSONL, npc.json, CharacterEval JSON, generic JSON/JSONL)')
    .addOption(new Option('--format <format>', 'profile format, instead of detecting it').choices(PROFILE_FORMATS))
    .option('--out <dir>', 'run directory (default: ./runs/<run id>, derived from the profiles and plan settings)')
    .option('--endpoint <url>', `OpenAI-compatible server; repeat for several (default: ${r.endpoints.join(', ')})`, collect)
    .option('--model <name>', 'model to request (default: the one GET /v1/models reports)')
    .addOption(new Option('--api-key <key>', 'bearer token for the endpoints').env('RAIDEN_API_KEY'))
    .option('--samples-per-profile <n>', `SBK samples per profile (default ${r.samplesPerProfile})`, integerAtLeast(0))
    .option('--include-cm', 'add CM (conversation memory) samples')
    .option('--cm-per-profile <n>', `CM samples per profile (implies --include-cm; default ${r.cmPerProfile})`, integerAtLeast(0))
    .option('--max-profiles <n>', 'use only the first N usable profiles', integerAtLeast(1))
    .option('--language <lang>', `prompt and output language: zh, en or auto (per profile) (default ${r.language})`, oneOf(LANGUAGES))
    .option('--concurrency <n>', `maximum requests in flight over all endpoints (default ${r.concurrency})`, integerAtLeast(1))
    .option('--max-attempts <n>', `model calls per sample slot before it is given up (default ${r.maxAttempts})`, integerAtLeast(1))
    .option('--validation-ratio <r>', `share of profiles in validation.json (default ${r.validationRatio})`, numberBetween(0, 1))
    .option('--seed <n>', `seed for planning, splitting and focus choices (default ${r.seed})`, integerAtLeast(0))
    .option('--dry-run', 'call no model: write prompts.jsonl, print the plan and a cost estimate', false)
    .option(
      '--request-timeout <seconds>',
      `give up on one HTTP request after this long, then retry (default ${r.requestTimeoutSeconds}, at most ${TIME_LIMITS.requestTimeoutSeconds})`,
      secondsUpTo(TIME_LIMITS.requestTimeoutSeconds),
    )
    .option(
      '--max-retries <n>',
      `transport retries per call on connection errors, timeouts, 429 and 5xx (default ${r.maxRetries})`,
      integerAtLeast(0),
    )
    .option(
      '--max-response-bytes <n>',
      'largest model response read, in bytes; a larger one is a rejected attempt (default 16 MiB)',
      integerAtLeast(1024),
    )
    .option('--max-tokens <n>', `max output tokens per model call (default ${r.maxTokens})`, integerAtLeast(64))
    .option('--temperature <t>', `sampling temperature (default ${r.temperature})`, numberBetween(0, 2))
    .option(
      '--bedrock-input-usd <usd>',
      'estimate: Bedrock USD per million input tokens (default: the price table for --bedrock-model)',
      positiveNumber,
    )
    .option(
      '--bedrock-output-usd <usd>',
      'estimate: Bedrock USD per million output tokens (default: the price table for --bedrock-model)',
      positiveNumber,
    )
    .option(
      '--gpu-usd-per-hour <usd>',
      `estimate: p5en.48xlarge USD per hour (default: the price table, ${d.gpuUsdPerHour})`,
      positiveNumber,
    )
    .option(
      '--sglang-tokens-per-second <n>',
      `estimate: output tokens per second of one p5en (default ${d.sglangTokensPerSecond})`,
      positiveNumber,
    );
  addStrategyOptions(addCacheOptions(generate))
    .option(
      '--exclude-names <file>',
      "refuse profiles of these characters (an evaluation benchmark's): one name per line, or a JSON array of names or object keyed by name (npc.json, CharacterEval)",
    )
    .action(async (opts: Record<string, unknown>) => {
      const excludeNames = opts.excludeNames === undefined ? undefined : await readNameList(String(opts.excludeNames));
      const spec = await withFlagErrors(() => parseRunSpec(runSpecFields({ ...opts, excludeNames })));
      const dryRun = opts.dryRun as boolean;
      const options: GenerateOptions & { readonly cache?: ResponseCache | undefined } = {
        spec,
        out: opts.out as string | undefined,
        apiKey: opts.apiKey as string | undefined,
        dryRun,
        estimate: {
          bedrockInputUsdPerMTok: opts.bedrockInputUsd as number | undefined,
          bedrockOutputUsdPerMTok: opts.bedrockOutputUsd as number | undefined,
          gpuUsdPerHour: opts.gpuUsdPerHour as number | undefined,
          sglangTokensPerSecond: opts.sglangTokensPerSecond as number | undefined,
        },
        // A dry run calls no model: nothing to look up or store.
        cache: dryRun ? undefined : await openCacheOption(opts),
      };
      setExit(await runGenerate(options, io));
    });

  program
    .command('evaluate')
    .description('score the samples of an existing run with a Bedrock judge model; writes evaluation.jsonl and evaluation_report.json')
    .requiredOption('--run <dir>', 'run directory of raiden generate (holds samples.jsonl)')
    .option('--judge-model <id>', 'Bedrock model id or inference profile id of the judge', DEFAULT_BEDROCK_MODEL)
    .addOption(new Option('--bedrock-region <region>', 'Bedrock region (default: AWS_REGION, then us-east-1)').env('AWS_REGION'))
    .option('--bedrock-endpoint <url>', 'Bedrock Runtime endpoint URL (a VPC endpoint, or a local test server)')
    .option('--min-score <s>', 'lowest judge score (1-10) that passes', numberBetween(1, 10), 7)
    .option('--sample <n>', 'judge a seeded sample of N samples instead of all', integerAtLeast(1))
    .option('--concurrency <n>', 'ceiling of judge requests in flight', integerAtLeast(1), 16)
    .option('--seed <n>', 'seed of the sample choice', integerAtLeast(0), 42)
    .option('--price-file <path>', 'JSON price overrides merged over the built-in price table')
    .action(async (opts: Record<string, unknown>) => {
      setExit(
        await runEvaluate(
          {
            run: opts.run as string,
            judgeModel: opts.judgeModel as string,
            bedrockRegion: opts.bedrockRegion as string | undefined,
            bedrockEndpoint: opts.bedrockEndpoint as string | undefined,
            minScore: opts.minScore as number,
            sample: opts.sample as number | undefined,
            concurrency: opts.concurrency as number,
            seed: opts.seed as number,
            priceFile: opts.priceFile as string | undefined,
          },
          io,
        ),
      );
    });
  addReverifyCommand(program, io, setExit);
  addAwsCommands(program, io, setExit);
  addReportCommand(program, io, setExit);
  addExportCommand(program, io, setExit);
  addProbeRewardCommand(program, io, setExit);
  linkDocsPages(program);
  return program;
}

/** Errors of a disk that takes no more: the user frees space and runs again; no stack trace helps. */
const DISK_FULL = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

/** Runs the CLI and returns its exit status: 0 done, 1 unexpected failure, 2 usage or input error, 3 incomplete. */
export async function main(argv: readonly string[], io?: CliIo): Promise<number> {
  let stop = false;
  let exitCode: number = EXIT.ok;
  const onSignal = () => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write(
      '\nraiden: stopping after the requests in flight (Ctrl-C again to quit now; accepted samples are already saved)\n',
    );
  };
  const streams: CliIo = io ?? { stdout: process.stdout, stderr: process.stderr, stopRequested: () => stop };
  if (io === undefined) process.on('SIGINT', onSignal);
  try {
    await buildProgram(streams, (code) => (exitCode = code)).parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (error instanceof UsageError) {
      streams.stderr.write(`raiden: ${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof RunFileError) {
      streams.stderr.write(`raiden: ${error.message}\n`);
      return EXIT.failure;
    }
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    if (code !== undefined && DISK_FULL.has(code)) {
      streams.stderr.write(
        `raiden: ${(error as Error).message}: the disk is full (or a quota or file size limit reached); free space, then run the same command again\n`,
      );
      return EXIT.failure;
    }
    streams.stderr.write(`raiden: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return EXIT.failure;
  } finally {
    if (io === undefined) process.off('SIGINT', onSignal);
  }
}
