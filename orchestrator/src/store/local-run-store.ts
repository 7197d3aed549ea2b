import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, open, readFile, rename, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RejectRecord, Sample } from '../core/sample.ts';
import { firstById, parseJsonLines } from './jsonl.ts';
import type { RunStore } from './run-store.ts';

export const SAMPLES_FILE = 'samples.jsonl';
export const REJECTS_FILE = 'rejects.jsonl';

/** A run directory on local disk. Appends are single write(2) calls on O_APPEND files: a kill leaves whole lines plus at most one partial tail. */
export class LocalRunStore implements RunStore {
  private readonly fds = new Map<string, number>();

  private constructor(readonly location: string) {}

  static async open(directory: string): Promise<LocalRunStore> {
    await mkdir(directory, { recursive: true });
    return new LocalRunStore(directory);
  }

  async loadSamples(): Promise<Sample[]> {
    const samples = firstById(await this.loadJsonl<Sample>(SAMPLES_FILE));
    this.fd(SAMPLES_FILE);
    return samples;
  }

  async appendSample(sample: Sample): Promise<void> {
    this.append(SAMPLES_FILE, JSON.stringify(sample));
  }

  async loadRejects(): Promise<RejectRecord[]> {
    const rejects = await this.loadJsonl<RejectRecord>(REJECTS_FILE);
    this.fd(REJECTS_FILE);
    return rejects;
  }

  async appendReject(reject: RejectRecord): Promise<void> {
    this.append(REJECTS_FILE, JSON.stringify(reject));
  }

  async readJson<T>(name: string): Promise<T | undefined> {
    const text = await readFile(join(this.location, name), 'utf8').catch(missingAsUndefined);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  async writeJson(name: string, value: unknown): Promise<void> {
    const target = join(this.location, name);
    await writeFile(`${target}.tmp`, `${JSON.stringify(value, null, 2)}\n`);
    await rename(`${target}.tmp`, target);
  }

  async writeLines(name: string, lines: Iterable<string>): Promise<void> {
    const target = join(this.location, name);
    const handle = await open(`${target}.tmp`, 'w');
    try {
      let buffer = '';
      for (const line of lines) {
        buffer += `${line}\n`;
        if (buffer.length >= 1 << 20) {
          await handle.write(buffer);
          buffer = '';
        }
      }
      await handle.write(buffer);
    } finally {
      await handle.close();
    }
    await rename(`${target}.tmp`, target);
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }

  /** Reads a JSONL file and cuts off a partial last line left by a crash, so later appends start clean. */
  private async loadJsonl<T>(name: string): Promise<T[]> {
    const path = join(this.location, name);
    const text = await readFile(path, 'utf8').catch(missingAsUndefined);
    if (text === undefined) return [];
    const parsed = parseJsonLines<T>(text);
    if (parsed.damagedTail) await truncate(path, parsed.validBytes);
    return parsed.records;
  }

  /** Opens (and so creates) an append-only file once; every run directory has both JSONL files, even if empty. */
  private fd(name: string): number {
    let fd = this.fds.get(name);
    if (fd === undefined) {
      fd = openSync(join(this.location, name), 'a');
      this.fds.set(name, fd);
    }
    return fd;
  }

  private append(name: string, line: string): void {
    // One synchronous write per line: the line reaches the kernel before the sample counts as accepted.
    writeSync(this.fd(name), `${line}\n`);
  }
}

function missingAsUndefined(error: NodeJS.ErrnoException): undefined {
  if (error.code === 'ENOENT') return undefined;
  throw error;
}
