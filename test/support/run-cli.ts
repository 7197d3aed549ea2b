import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = new URL('../..', import.meta.url).pathname;
export const CLI = join(ROOT, 'bin/raiden.mjs');
export const CHARACTEREVAL_PROFILES = join(ROOT, 'test/fixtures/charactereval_profiles.json');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Starts the real `raiden` command in a child process (same Node binary as the tests). */
export function startCli(args: readonly string[], cwd = ROOT, env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], {
    cwd,
    env: { ...process.env, RAIDEN_API_KEY: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/**
 * Runs `raiden` in this process through its real entry function, `main(argv, io)`: the same parsing, the
 * same core and the same files, without a Node start-up per test. Environment overrides apply for the
 * call only. Tests of signals and of the installed entry point use `startCli` instead.
 */
export async function runCli(args: readonly string[], cwd = ROOT, env: Record<string, string> = {}): Promise<CliResult> {
  const { main } = await import('../../orchestrator/src/cli/main.ts');
  let stdout = '';
  let stderr = '';
  const overrides = { RAIDEN_API_KEY: '', ...env };
  const saved = Object.fromEntries(Object.keys(overrides).map((key) => [key, process.env[key]]));
  const savedCwd = process.cwd();
  Object.assign(process.env, overrides);
  process.chdir(cwd);
  try {
    const code = await main(args, {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
    });
    return { code, stdout, stderr };
  } finally {
    process.chdir(savedCwd);
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

/** Runs the installed `raiden` command in a child process, as a user's shell would. */
export function runCliProcess(args: readonly string[], cwd = ROOT, env: Record<string, string> = {}): Promise<CliResult> {
  return collectOutput(startCli(args, cwd, env));
}

/** Waits for a started CLI to exit, with everything it printed. */
export function collectOutput(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

export function readJsonl<T = Record<string, unknown>>(path: string): T[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map((line) => JSON.parse(line) as T);
}

export function readJson<T = Record<string, unknown>>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}
