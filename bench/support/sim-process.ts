import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { TestServer } from '../simulated-sglang/server.ts';

export interface SimProcess {
  readonly url: string;
  stats(): Promise<TestServer['stats'] & { engine?: NonNullable<TestServer['engine']> }>;
  stop(): Promise<void>;
}

const ROOT = new URL('../..', import.meta.url).pathname;
const SERVE = new URL('../simulated-sglang/serve.ts', import.meta.url).pathname;

/** Starts the simulated SGLang server in its own process, so its CPU time is not the orchestrator's. */
export async function startSimProcess(flags: Record<string, string | number>): Promise<SimProcess> {
  const args = Object.entries({ port: 0, ...flags }).flatMap(([key, value]) => [`--${key}`, String(value)]);
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', SERVE, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    lines.once('line', (line) => resolve((JSON.parse(line) as { url: string }).url));
    child.once('exit', (code) => reject(new Error(`simulated server exited with ${code}`)));
  });
  return {
    url,
    stats: async () => (await (await fetch(`${url}/sim/stats`)).json()) as Awaited<ReturnType<SimProcess['stats']>>,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
