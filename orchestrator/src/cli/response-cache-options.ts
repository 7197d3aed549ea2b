/**
 * The response cache as the CLI offers it: `--cache-dir DIR`, `--no-cache`, and from the environment
 * RAIDEN_CACHE_DIR, RAIDEN_NO_CACHE=1 and RAIDEN_CACHE_MAX_GB (GiB, 2 by default); without any, a directory in
 * the user's cache folder. A flag wins over the environment: `--cache-dir` uses the cache even where
 * RAIDEN_NO_CACHE is set (a CI machine's default, say).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { ResponseCache } from '../core/ports/response-cache.ts';
import { DEFAULT_CACHE_MAX_BYTES, LocalResponseCache } from '../store/local-response-cache.ts';
import { printable } from './terminal-text.ts';
import { UsageError } from './usage-error.ts';

export const CACHE_ENV = { dir: 'RAIDEN_CACHE_DIR', off: 'RAIDEN_NO_CACHE', maxGb: 'RAIDEN_CACHE_MAX_GB' } as const;

/** The user's cache folder for raiden: XDG on Linux, Library/Caches on macOS, LOCALAPPDATA on Windows. */
export function defaultCacheDir(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  home = homedir(),
): string {
  if (platform === 'darwin') return join(home, 'Library', 'Caches', 'raiden');
  if (platform === 'win32') return join(env.LOCALAPPDATA || join(home, 'AppData', 'Local'), 'raiden', 'Cache');
  return join(env.XDG_CACHE_HOME || join(home, '.cache'), 'raiden');
}

/** Adds --cache-dir and --no-cache to a command that calls models. */
export function addCacheOptions(command: Command): Command {
  return command
    .option(
      '--cache-dir <dir>',
      `response cache: model answers already paid for are reused from here (default: $${CACHE_ENV.dir}, else ${defaultCacheDir().replace(homedir(), '~')})`,
    )
    .option('--no-cache', `call the model for every request and store nothing (also ${CACHE_ENV.off}=1)`);
}

/** The local response cache the options ask for; undefined with --no-cache or RAIDEN_NO_CACHE. */
export async function openCacheOption(
  opts: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ResponseCache | undefined> {
  const flagged = opts.cacheDir as string | undefined;
  if (opts.cache === false) return undefined;
  if (flagged === undefined && ['1', 'true', 'yes'].includes((env[CACHE_ENV.off] ?? '').toLowerCase())) return undefined;
  const directory = flagged ?? (env[CACHE_ENV.dir] || defaultCacheDir(env));
  const maxGb = env[CACHE_ENV.maxGb] === undefined ? undefined : Number(env[CACHE_ENV.maxGb]);
  if (maxGb !== undefined && !(maxGb > 0))
    throw new UsageError(`${CACHE_ENV.maxGb}=${env[CACHE_ENV.maxGb]} is not a size: give the cache's bound in GiB, e.g. 2`);
  try {
    return await LocalResponseCache.open(directory, {
      maxBytes: maxGb === undefined ? DEFAULT_CACHE_MAX_BYTES : Math.round(maxGb * 1024 ** 3),
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new UsageError(
      `cannot use the response cache in ${directory} (${code}): give --cache-dir a directory you can write, or --no-cache`,
    );
  }
}

/** Says on stderr how many cache reads or writes failed (a full disk): the run goes on, but the next one pays for those answers again. */
export function warnCacheErrors(errors: number, cache: ResponseCache | undefined, stderr: { write(text: string): unknown }): void {
  if (errors === 0 || cache === undefined) return;
  stderr.write(
    `raiden: the response cache at ${printable(cache.location)} failed ${errors} reads or writes (is its disk full?): those answers were asked of the model again or not stored; the run keeps every output itself, and report.json counts them as cache.errors\n`,
  );
}
