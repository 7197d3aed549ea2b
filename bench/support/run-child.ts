import { spawn } from 'node:child_process';
import type { ChildConfig, ChildResult } from './pipeline-child.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const CHILD = new URL('./pipeline-child.ts', import.meta.url).pathname;

/** Runs the pipeline in a child process (optionally with extra Node flags such as --cpu-prof). */
export function runPipelineChild(config: ChildConfig, nodeFlags: string[] = [], env: Record<string, string> = {}): Promise<ChildResult> {
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', CHILD, JSON.stringify(config)], {
    cwd: ROOT,
    // Each scenario measures what it names: the response cache only where it asks for one (--cache-dir), and
    // never in the user's own cache.
    env: { ...process.env, RAIDEN_NO_CACHE: '1', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  return new Promise((resolve, reject) =>
    child.on('close', (code) => {
      const last = stdout.trimEnd().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as ChildResult);
      } catch {
        reject(new Error(`pipeline child exited with ${code} without a result: ${stdout.slice(-500)}`));
      }
    }),
  );
}
