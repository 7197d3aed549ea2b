/** `raiden deploy` / `raiden destroy`: the project's own cdk (same cdk.json, same -c overrides) through execa. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type { CliIo } from './cli-io.ts';
import { parseContextArgs, PROJECT_ROOT, runDoctor } from './doctor-command.ts';
import { EXIT, UsageError } from './usage-error.ts';

/** raiden's own flag of `raiden deploy`; every other argument goes to cdk. */
export const SKIP_DOCTOR_FLAG = '--skip-doctor';

/** Our own flags and the settings that matter first; cdk's ~170 lines of options only on request. */
function helpText(action: 'deploy' | 'destroy'): string {
  const lines = [
    `Usage: raiden ${action} [-c key=value ...] [cdk options]`,
    '',
    action === 'deploy'
      ? "Runs raiden doctor, then cdk deploy --all with this project's cdk.json (S3 buckets, Bedrock IAM, the GPU fleet, the workflow)."
      : "cdk destroy --all with this project's cdk.json: removes every stack, the buckets with their objects unless deployed with -c retainOutputs=true (see docs/deploy.md, Teardown).",
    '',
    'Options:',
    ...(action === 'deploy' ? [`  ${SKIP_DOCTOR_FLAG}            deploy without the account checks of raiden doctor`] : []),
    `  --region <region>        the region to ${action === 'deploy' ? 'deploy to' : 'remove the stacks from'} (the same as -c region=<region>; default: AWS_REGION, then the profile)`,
    ...(action === 'deploy'
      ? [
          '  -c key=value             a setting (docs/deploy.md, Configuration), e.g. -c layout=tp4x2, -c models=Qwen/Qwen2.5-72B-Instruct,',
          '                           -c availabilityZones=us-east-1d,us-east-1f (raiden doctor names the zones that offer the type),',
          '                           -c capacity=spot, -c maxInstances=2',
        ]
      : ['  -c key=value             the settings the stacks were deployed with that name them (-c stackPrefix=..., -c region=...)']),
    `  --profile <name>         the AWS profile to ${action} with`,
    ...(action === 'deploy'
      ? ["  --require-approval never skip cdk's confirmation of security changes"]
      : ["  --force                  skip cdk's confirmation before it deletes the stacks"]),
    '',
    `Every other argument goes to cdk as it is; cdk's own options: npx cdk ${action} --help`,
  ];
  return `${lines.join('\n')}\n`;
}

export async function runCdk(action: 'deploy' | 'destroy', cdkArgs: readonly string[], io: CliIo): Promise<number> {
  if (cdkArgs.includes('--help') || cdkArgs.includes('-h')) {
    io.stdout.write(helpText(action));
    return EXIT.ok;
  }
  const cdk = join(PROJECT_ROOT, 'node_modules/.bin/cdk');
  if (!existsSync(cdk)) throw new UsageError(`the AWS CDK CLI is not installed in ${PROJECT_ROOT}: run npm ci there first`);
  const passThrough = withRegionContext(cdkArgs.filter((arg) => arg !== SKIP_DOCTOR_FLAG));
  if (action === 'deploy' && !cdkArgs.includes(SKIP_DOCTOR_FLAG)) {
    // Zones without the instance type, a missing quota or reservation fail only once instances launch,
    // long after the deploy succeeded; catch them before anything is deployed.
    io.stderr.write(`raiden: checking the account first (raiden doctor; ${SKIP_DOCTOR_FLAG} skips it)\n`);
    const profile = valueOf(passThrough, '--profile');
    if ((await runDoctor({ context: parseContextArgs(contextArgs(passThrough)), ...(profile ? { profile } : {}) }, io)) !== EXIT.ok) {
      io.stderr.write(`raiden: not deploying: fix what raiden doctor reports above, or pass ${SKIP_DOCTOR_FLAG} to deploy anyway\n`);
      return EXIT.failure;
    }
  }
  const args = [action, '--all', ...passThrough];
  io.stderr.write(`raiden: cdk ${args.join(' ')}\n`);
  const result = await execa(cdk, args, { cwd: PROJECT_ROOT, stdio: 'inherit', reject: false });
  if (result.exitCode === 0) return EXIT.ok;
  io.stderr.write(`raiden: cdk ${action} failed (exit ${result.exitCode ?? result.signal}); its output above says why\n`);
  return EXIT.failure;
}

/**
 * `--region X` (or `--region=X`) as `-c region=X`: cdk has no --region option and would deploy to the
 * profile's region, while the stacks take their region from the region setting (docs/deploy.md). A
 * different `-c region` beside it is refused rather than one of the two silently winning.
 */
export function withRegionContext(args: readonly string[]): string[] {
  const rest: string[] = [];
  let region: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--region' || arg.startsWith('--region=')) {
      const value = arg === '--region' ? args[++i] : arg.slice('--region='.length);
      if (value === undefined || value === '' || value.startsWith('-'))
        throw new UsageError('--region needs a region name, for example --region us-east-1');
      region = value;
    } else rest.push(arg);
  }
  if (region === undefined) return rest;
  const set = parseContextArgs(contextArgs(rest)).region;
  if (set === undefined) return [...rest, '-c', `region=${region}`];
  if (set !== region) throw new UsageError(`--region ${region} and -c region=${set} disagree: give the region once`);
  return rest;
}

/** The `key=value` of every `-c` / `--context` argument, in cdk's spellings. */
export function contextArgs(args: readonly string[]): string[] {
  const pairs: string[] = [];
  args.forEach((arg, i) => {
    const next = args[i + 1];
    if ((arg === '-c' || arg === '--context') && next !== undefined) pairs.push(next);
    else if (arg.startsWith('--context=')) pairs.push(arg.slice('--context='.length));
  });
  return pairs;
}

/** A cdk option's value, as `--name value` or `--name=value`. */
function valueOf(args: readonly string[], name: string): string | undefined {
  const at = args.indexOf(name);
  if (at >= 0) return args[at + 1];
  return args.find((arg) => arg.startsWith(`${name}=`))?.slice(name.length + 1);
}
