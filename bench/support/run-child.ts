import { spawn } from 'node:child_process';
import type { ChildConfig, ChildResult } from './pipeline-child.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const PIPELINE_CHILD = new URL('./pipeline-child.ts', import.meta.url).pathname;

export interface JsonChildOptions {
  /** Extra Node flags, such as --cpu-prof. */
  readonly nodeFlags?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * Runs a bench child script (TypeScript, through tsx) with its config as JSON in argv and resolves with the
 * JSON the script prints on its last line: each measurement gets a fresh process, so its CPU time and peak
 * memory are its own.
 */
export function runJsonChild<T>(script: string, config: unknown, options: JsonChildOptions = {}): Promise<T> {
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), '--import', 'tsx', script, JSON.stringify(config)], {
    cwd: ROOT,
    // Each scenario measures what it names: the response cache only where it asks for one (--cache-dir), and
    // never in the user's own cache.
    env: { ...process.env, RAIDEN_NO_CACHE: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  return new Promise((resolve, reject) =>
    child.on('close', (code) => {
      const last = stdout.trimEnd().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`${script} exited with ${code} without a result: ${stdout.slice(-500)}`));
      }
    }),
  );
}

/** Runs the pipeline in a child process (optionally with extra Node flags such as --cpu-prof). */
export function runPipelineChild(config: ChildConfig, nodeFlags: string[] = [], env: Record<string, string> = {}): Promise<ChildResult> {
  return runJsonChild<ChildResult>(PIPELINE_CHILD, config, { nodeFlags, env });
}
