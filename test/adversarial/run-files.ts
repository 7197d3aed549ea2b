/** What the adversarial tests check of a run directory after the abuse: whole lines, one sample per id. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';

export interface RunFiles {
  /** Lines of samples.jsonl, each parsed; a torn or corrupt line fails the parse. */
  readonly samples: { id: string }[];
  readonly rejects: number;
}

export function readRun(out: string): RunFiles {
  const lines = (name: string) => {
    const path = join(out, name);
    if (!existsSync(path)) return [];
    const text = readFileSync(path, 'utf8');
    if (text.length > 0 && !text.endsWith('\n')) throw new Error(`${name} ends in a line without its newline`);
    return text.split('\n').filter((line) => line.length > 0);
  };
  return { samples: lines('samples.jsonl').map((line) => JSON.parse(line) as { id: string }), rejects: lines('rejects.jsonl').length };
}

export function duplicateIds(samples: readonly { id: string }[]): string[] {
  const seen = new Set<string>();
  return samples.filter((sample) => seen.has(sample.id) || !seen.add(sample.id)).map((sample) => sample.id);
}

/** Resolves once `ready` holds, polling; rejects if the child exits first. */
export async function until(child: ChildProcess, ready: () => boolean, what: string): Promise<void> {
  let exited = false;
  child.once('exit', () => (exited = true));
  while (!ready()) {
    if (exited || child.exitCode !== null) throw new Error(`the CLI exited before ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Complete lines in samples.jsonl so far. */
export function samplesWritten(out: string): number {
  const path = join(out, 'samples.jsonl');
  if (!existsSync(path)) return 0;
  const text = readFileSync(path, 'utf8');
  return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').length - 1;
}

export async function killed(child: ChildProcess): Promise<void> {
  const closed = new Promise((resolve) => child.once('close', resolve));
  child.kill('SIGKILL');
  await closed;
}
