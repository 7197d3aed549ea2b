/** `raiden deploy` / `raiden destroy`: the project's own cdk (same cdk.json, same -c overrides) through execa. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type { CliIo } from './cli-io.ts';
import { EXIT, UsageError } from './usage-error.ts';

const PROJECT_ROOT = join(import.meta.dirname, '../../..');

export async function runCdk(action: 'deploy' | 'destroy', cdkArgs: readonly string[], io: CliIo): Promise<number> {
  const cdk = join(PROJECT_ROOT, 'node_modules/.bin/cdk');
  if (!existsSync(cdk)) throw new UsageError(`the AWS CDK CLI is not installed in ${PROJECT_ROOT}: run npm ci there first`);
  const args = [action, '--all', ...cdkArgs];
  io.stderr.write(`raiden: cdk ${args.join(' ')}\n`);
  const result = await execa(cdk, args, { cwd: PROJECT_ROOT, stdio: 'inherit', reject: false });
  if (result.exitCode === 0) return EXIT.ok;
  io.stderr.write(`raiden: cdk ${action} failed (exit ${result.exitCode ?? result.signal}); its output above says why\n`);
  return EXIT.failure;
}
