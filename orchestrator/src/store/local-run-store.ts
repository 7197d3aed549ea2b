import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RUN_FILES } from '../contract/run-layout.ts';
import type { RejectRecord, RunEventRecord, Sample } from '../core/ports/run-store.ts';
import { firstById, readJsonLines, repairTornTail } from './jsonl.ts';
import type { LeaseStore, RunStore, Versioned, WriteCondition } from '../core/ports/run-store.ts';
import { createExclusive, deleteIfVersion, readVersioned, replaceIfVersion } from './file-cas.ts';

/** A run directory on local disk. Appends are single write(2) calls on O_APPEND files: a kill leaves whole lines plus at most one torn tail. */
export class LocalRunStore implements RunStore, LeaseStore {
  private readonly fds = new Map<string, number>();

  private constructor(readonly location: string) {}

  static async open(directory: string): Promise<LocalRunStore> {
    await mkdir(directory, { recursive: true });
    return new LocalRunStore(directory);
  }

  /**
   * Repairs a tail torn by a crash and creates both JSONL files, so appends start on a clean line and
   * every run directory has both files, even if empty. Call before the first append.
   */
  async prepareAppends(): Promise<void> {
    for (const name of [RUN_FILES.samples, RUN_FILES.rejects]) {
      await repairTornTail(join(this.location, name));
      this.fd(name);
    }
    await repairTornTail(join(this.location, RUN_FILES.events));
  }

  readSamples(): AsyncIterable<Sample> {
    return firstById(readJsonLines<Sample>(join(this.location, RUN_FILES.samples)));
  }

  async appendSample(sample: Sample): Promise<void> {
    this.append(RUN_FILES.samples, JSON.stringify(sample));
  }

  readRejects(): AsyncIterable<RejectRecord> {
    return readJsonLines<RejectRecord>(join(this.location, RUN_FILES.rejects));
  }

  async appendReject(reject: RejectRecord): Promise<void> {
    this.append(RUN_FILES.rejects, JSON.stringify(reject));
  }

  async appendEvent(event: RunEventRecord): Promise<void> {
    this.append(RUN_FILES.events, JSON.stringify(event));
  }

  /** Every event is written by its append already. */
  async flushEvents(): Promise<void> {}

  readEvents(): AsyncIterable<RunEventRecord> {
    return readJsonLines<RunEventRecord>(join(this.location, RUN_FILES.events));
  }

  async readJson<T>(name: string): Promise<T | undefined> {
    const text = await readFile(join(this.location, name), 'utf8').catch(missingAsUndefined);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  async writeJson(name: string, value: unknown, condition?: WriteCondition): Promise<void> {
    const target = join(this.location, name);
    const text = `${JSON.stringify(value, null, 2)}\n`;
    if (condition === undefined) {
      await writeFile(`${target}.tmp`, text);
      await rename(`${target}.tmp`, target);
    } else if ('ifAbsent' in condition) await createExclusive(target, text);
    else await replaceIfVersion(target, text, condition.ifVersion);
  }

  readJsonVersion<T>(name: string): Promise<Versioned<T> | undefined> {
    return readVersioned<T>(join(this.location, name));
  }

  async deleteJson(name: string, condition: { readonly ifVersion: string }): Promise<void> {
    await deleteIfVersion(join(this.location, name), condition.ifVersion);
  }

  async writeLines(name: string, lines: Iterable<string> | AsyncIterable<string>): Promise<void> {
    const target = join(this.location, name);
    const handle = await open(`${target}.tmp`, 'w');
    try {
      let buffer = '';
      for await (const line of lines) {
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
