import { closeSync, fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RUN_FILES } from '../contract/run-layout.ts';
import type { RejectRecord, RunEventRecord, Sample } from '../core/ports/run-store.ts';
import { firstById, readJsonLines, repairCorruptLines, repairTornTail, type RepairedLine } from './jsonl.ts';
import { RunFileError, type LeaseStore, type RunStore, type Versioned, type WriteCondition } from '../core/ports/run-store.ts';
import { createExclusive, deleteIfVersion, readVersioned, replaceIfVersion } from './file-cas.ts';

/** How a reader of a damaged run file is told to repair it. */
const REPAIR_HINT =
  ': run the same raiden generate command (or raiden reverify), which moves such lines to a .corrupt file beside it and keeps every whole record';

/**
 * A run directory on local disk. Appends are single write(2) calls on O_APPEND files: a kill leaves whole
 * lines plus at most one torn tail, and a write the disk takes only part of is cut back off at once.
 */
export class LocalRunStore implements RunStore, LeaseStore {
  private readonly fds = new Map<string, number>();
  /** Lines prepareAppends took out of the run's JSONL files, for the front door to report. */
  readonly repaired: RepairedLine[] = [];

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
    await this.repairFiles();
    for (const name of [RUN_FILES.samples, RUN_FILES.rejects]) this.fd(name);
  }

  /**
   * Cuts tails torn by a crash and takes out lines that are not records (a torn write an older raiden
   * glued to the next one), keeping the damaged text beside the file. Call with no writer on the run.
   */
  async repairFiles(): Promise<RepairedLine[]> {
    const repaired: RepairedLine[] = [];
    for (const name of [RUN_FILES.samples, RUN_FILES.rejects, RUN_FILES.events]) {
      const path = join(this.location, name);
      await repairTornTail(path);
      repaired.push(...(await repairCorruptLines(path)));
    }
    this.repaired.push(...repaired);
    return repaired;
  }

  readSamples(): AsyncIterable<Sample> {
    return firstById(readJsonLines<Sample>(join(this.location, RUN_FILES.samples), REPAIR_HINT));
  }

  async appendSample(sample: Sample): Promise<void> {
    this.append(RUN_FILES.samples, JSON.stringify(sample));
  }

  readRejects(): AsyncIterable<RejectRecord> {
    return readJsonLines<RejectRecord>(join(this.location, RUN_FILES.rejects), REPAIR_HINT);
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
    return readJsonLines<RunEventRecord>(join(this.location, RUN_FILES.events), REPAIR_HINT);
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
    const bytes = Buffer.from(`${line}\n`);
    const fd = this.fd(name);
    let written: number;
    try {
      written = writeSync(fd, bytes);
    } catch (error) {
      throw appendFailed(join(this.location, name), (error as NodeJS.ErrnoException).code ?? (error as Error).message);
    }
    if (written < bytes.length) {
      // A full disk (or a file size limit) took part of the line: cut it off, or the next append would be glued to it.
      // Appends are synchronous and this process is the run's only writer, so the part is the file's last bytes.
      ftruncateSync(fd, fstatSync(fd).size - written);
      throw appendFailed(join(this.location, name), `only ${written} of ${bytes.length} bytes written`);
    }
  }
}

function appendFailed(path: string, cause: string): RunFileError {
  return new RunFileError(
    `cannot append to ${path} (${cause}): is the disk full? Every record written before is kept; free space, then run the same command again to continue`,
  );
}

function missingAsUndefined(error: NodeJS.ErrnoException): undefined {
  if (error.code === 'ENOENT') return undefined;
  throw error;
}
