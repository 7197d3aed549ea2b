/** raiden_reward.py as an export ships it (with its data files beside it), run by python3. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REWARD_FILE, rewardFiles } from '../../orchestrator/src/core/export/run-export.ts';

/** A directory holding the reward files exactly as exportRun writes them. */
export async function rewardDirectory(): Promise<string> {
  const directory = mkdtempSync(join(tmpdir(), 'raiden-reward-'));
  for (const file of await rewardFiles()) writeFileSync(join(directory, file.name), file.body);
  return directory;
}

/** Every request through `python3 raiden_reward.py` in one process: one JSON answer per JSON request. */
export function pythonCheck<T>(directory: string, requests: readonly unknown[]): T[] {
  const output = execFileSync('python3', [join(directory, REWARD_FILE)], {
    input: requests.map((request) => JSON.stringify(request)).join('\n'),
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  return output
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as T);
}

/** Runs a Python snippet with the reward module importable and `data` (JSON) on stdin; returns its JSON output. */
export function pythonRun<T>(directory: string, script: string, data: unknown): T {
  const output = execFileSync('python3', ['-c', `import sys, json\nsys.path.insert(0, ${JSON.stringify(directory)})\n${script}`], {
    input: JSON.stringify(data),
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  return JSON.parse(output) as T;
}

/** The suite's reward directory: made before its tests, removed after them. */
export function suiteRewardDirectory(): { directory: () => string } {
  let directory: string | undefined;
  beforeAll(async () => {
    directory = await rewardDirectory();
  });
  afterAll(() => {
    if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
  });
  return {
    directory: () => {
      if (directory === undefined) throw new Error('the reward directory exists only while the suite runs');
      return directory;
    },
  };
}

/** The strings of a corpus value that should be a list of strings. */
export const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
