/** The commands that drive the deployed workflow on AWS: start, status, teardown, doctor, weights, deploy, destroy. */
import { Option, type Command } from 'commander';
import { PROFILE_FORMATS } from '../core/profiles/profile-formats.ts';
import { STRATEGY_NAMES as WORKFLOW_STRATEGIES } from '../core/strategies/names.ts';
import type { CliIo } from './cli-io.ts';
import { collect, integerAtLeast, integerBetween, numberBetween, oneOf, positiveNumber, secondsUpTo } from './option-parsers.ts';

// The AWS commands load the AWS SDK and execa: imported when one runs, so `raiden generate` never pays for them.
const awsCommands = () => import('./aws-commands.ts');

/** `raiden start` flag -> workflow input field. */
const INPUT_FIELDS: Record<string, string> = {
  format: 'format',
  samplesPerProfile: 'samplesPerProfile',
  cmPerProfile: 'cmPerProfile',
  maxProfiles: 'maxProfiles',
  strategy: 'strategy',
  language: 'language',
  runId: 'runId',
  seed: 'seed',
  maxAttempts: 'maxAttempts',
  validationRatio: 'validationRatio',
  model: 'model',
  bedrockModel: 'bedrockModel',
  maxTokens: 'maxTokens',
  temperature: 'temperature',
  instances: 'instances',
  readinessTimeout: 'readinessTimeoutMinutes',
  toleratedFailurePercent: 'toleratedFailurePercent',
  batchSlots: 'batchSlots',
  candidates: 'candidates',
  minScore: 'minScore',
  judgeModel: 'judgeModel',
  seedProfiles: 'seedProfiles',
  evaluateSamples: 'evaluateSamples',
};

export function addAwsCommands(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const target = (command: Command) =>
    command
      .addOption(new Option('--region <region>', 'AWS region of the deployment (default: AWS_REGION or your profile)').env('AWS_REGION'))
      .option('--stack-prefix <prefix>', 'stackPrefix the stacks were deployed with', 'Raiden');

  target(
    program
      .command('start')
      .description('start a run of the deployed workflow (uploads local profiles first) and print its console link')
      .requiredOption('--profiles <path>', 'a local profile file (uploaded to the inputs bucket) or an s3:// URL')
      .addOption(new Option('--format <format>', 'profile format, instead of detecting it').choices(PROFILE_FORMATS))
      .option('--samples-per-profile <n>', 'SBK samples per profile (default 2)', integerAtLeast(0))
      .option('--include-cm', 'add CM (conversation memory) samples')
      .option('--cm-per-profile <n>', 'CM samples per profile (implies --include-cm; default 1)', integerAtLeast(0))
      .option('--max-profiles <n>', 'use only the first N usable profiles', integerAtLeast(1))
      .option('--strategy <name>', `backend per batch: ${WORKFLOW_STRATEGIES.join(', ')} (default sglang)`, oneOf(WORKFLOW_STRATEGIES))
      .option('--language <lang>', 'zh, en or auto (default auto, per profile)', oneOf(['zh', 'en', 'auto'] as const))
      .option('--run-id <id>', 'run id (the dataset goes to runs/<id>/); reuse one to resume it (default: the execution name)')
      .option('--seed <n>', 'seed for planning, splitting and focus choices (default 42)', integerAtLeast(0))
      .option('--max-attempts <n>', 'model calls per slot before it is given up (default 3)', integerAtLeast(1))
      .option('--validation-ratio <r>', 'share of profiles in validation.json (default 0.1)', numberBetween(0, 1))
      .option('--model <name>', 'SGLang model name (default: what each server serves)')
      .option('--bedrock-model <id>', "Bedrock model or inference profile id (default: the deployment's first)")
      .option('--candidates <k>', 'filter: SGLang candidates per slot (default 3)', integerAtLeast(1))
      .option('--min-score <s>', 'filter: lowest judge score (1-10) a kept candidate may have (default 7)', numberBetween(1, 10))
      .option('--judge-model <id>', 'filter and iterative: Bedrock judge model (default: --bedrock-model)')
      .option('--seed-profiles <n>', 'iterative: profiles Bedrock writes seeds for, a count or a share (default 0.1)', positiveNumber)
      .option('--evaluate-samples <n>', 'iterative: SGLang samples the judge evaluates (default 50)', integerAtLeast(0))
      .option('--max-tokens <n>', 'max output tokens per call (default 2048)', integerAtLeast(64))
      .option('--temperature <t>', 'sampling temperature (default 0.8)', numberBetween(0, 2))
      .option('--instances <n>', 'GPU instances to stand up (default 1, capped by maxInstances)', integerAtLeast(1))
      .option(
        '--readiness-timeout <minutes>',
        'minutes to wait for every SGLang server before failing the run (5 to 240)',
        integerBetween(5, 240),
      )
      .option(
        '--tolerated-failure-percent <p>',
        'share of batches that may fail without failing the run (default 5)',
        numberBetween(0, 100),
      )
      .option('--batch-slots <n>', 'slots per batch instead of the automatic sizing', integerAtLeast(1))
      .option('--keep-fleet', 'leave the GPU fleet up after the run ("teardown": "keep"); its idle watchdog still applies'),
  ).action(async (opts: Record<string, unknown>) => {
    const input: Record<string, unknown> = {};
    for (const [flag, field] of Object.entries(INPUT_FIELDS)) if (opts[flag] !== undefined) input[field] = opts[flag];
    if (opts.includeCm === true || opts.cmPerProfile !== undefined) input.includeCm = true;
    if (opts.keepFleet === true) input.teardown = 'keep';
    const flagOf = (field: string) => {
      const flag = Object.entries(INPUT_FIELDS).find(([, key]) => key === field)?.[0];
      return flag === undefined ? field : `--${flag.replace(/[A-Z]/gu, (letter) => `-${letter.toLowerCase()}`)}`;
    };
    setExit(
      await (
        await awsCommands()
      ).runStart(
        {
          profiles: opts.profiles as string,
          region: opts.region as string | undefined,
          stackPrefix: opts.stackPrefix as string,
          input,
          flagOf,
        },
        io,
      ),
    );
  });

  target(
    program
      .command('status')
      .description('follow a run (default: the latest) with a progress bar until it ends')
      .argument('[execution]', 'execution name or ARN (default: the latest run)')
      .option('--interval <seconds>', 'seconds between refreshes (at most 3600)', secondsUpTo(3600), 5)
      .option('--json', 'print the status, progress, cost and report link once as JSON, for scripts'),
  ).action(async (execution: string | undefined, opts: Record<string, unknown>) => {
    setExit(
      await (
        await awsCommands()
      ).runStatus(
        {
          execution,
          interval: opts.interval as number,
          json: opts.json === true,
          region: opts.region as string | undefined,
          stackPrefix: opts.stackPrefix as string,
        },
        io,
      ),
    );
  });

  program
    .command('teardown')
    .description('emergency stop: scale every GPU fleet of this app to zero now')
    .addOption(new Option('--region <region>', 'AWS region (default: AWS_REGION or your profile)').env('AWS_REGION'))
    .action(async (opts: Record<string, unknown>) =>
      setExit(await (await awsCommands()).runTeardown({ region: opts.region as string | undefined }, io)),
    );

  program
    .command('doctor')
    .description(
      'check the AWS account before deploying: credentials, region, CDK bootstrap, zones that offer the instance type, ' +
        'vCPU quota, reservation, Bedrock model access',
    )
    .option('-c, --context <key=value>', 'a setting, as for raiden deploy / cdk (repeat it)', collect)
    .addOption(new Option('--region <region>', 'AWS region (default: -c region, AWS_REGION or your profile)').env('AWS_REGION'))
    .option('--profile <name>', 'AWS profile, as for cdk --profile')
    .action(async (opts: Record<string, unknown>) => {
      const { parseContextArgs, runDoctor } = await import('./doctor-command.ts');
      setExit(
        await runDoctor(
          {
            context: parseContextArgs((opts.context as string[] | undefined) ?? []),
            region: opts.region as string | undefined,
            profile: opts.profile as string | undefined,
          },
          io,
        ),
      );
    });

  const weights = program.command('weights').description("the deployment's weights bucket");
  target(
    weights
      .command('stage')
      .description(
        'copy a Hugging Face model into the weights bucket once; fleet boots then read it through the S3 gateway endpoint ' +
          'instead of downloading it through the NAT gateway (HF_TOKEN for gated models, HF_ENDPOINT for a mirror)',
      )
      .requiredOption('--model <id>', 'Hugging Face model id, e.g. Qwen/Qwen2.5-72B-Instruct')
      .option('--revision <rev>', 'branch, tag or commit to copy', 'main')
      .option('--bucket <name>', 'the weights bucket (default: the one the stacks of --stack-prefix created)'),
  ).action(async (opts: Record<string, unknown>) => {
    const { runWeightsStage } = await import('./weights-command.ts');
    setExit(
      await runWeightsStage(
        {
          model: opts.model as string,
          revision: opts.revision as string,
          region: opts.region as string | undefined,
          stackPrefix: opts.stackPrefix as string,
          bucket: opts.bucket as string | undefined,
        },
        io,
      ),
    );
  });

  for (const action of ['deploy', 'destroy'] as const) {
    program
      .command(action)
      .description(
        action === 'deploy'
          ? "raiden doctor, then cdk deploy --all with this project's cdk.json; extra arguments go to cdk (e.g. -c layout=tp4x2); --skip-doctor skips the checks"
          : "cdk destroy --all with this project's cdk.json; extra arguments go to cdk (e.g. -c layout=tp4x2)",
      )
      .argument('[cdkArgs...]', 'passed to cdk as they are')
      .allowUnknownOption()
      .helpOption('--raiden-help', 'show this help')
      .action(async (cdkArgs: string[]) => setExit(await (await import('./cdk-commands.ts')).runCdk(action, cdkArgs, io)));
  }
}
