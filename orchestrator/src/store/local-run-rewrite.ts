/**
 * A rewrite of a run directory: the new files are written to `<run>/.reverify/`, then renamed over the
 * run's. Before the first rename, `.reverify/commit.json` names every file to move; a rename is atomic
 * and one of a file already moved finds nothing to move, so a swap cut short by a crash is finished by the
 * next open, and a staging directory without commit.json (a crash before the swap) is dropped.
 */
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunRewrite } from '../core/ports/run-rewrite.ts';
import { LocalRunStore } from './local-run-store.ts';

const STAGING = '.reverify';
const JOURNAL = 'commit.json';

export class LocalRunRewrite implements RunRewrite {
  private constructor(
    private readonly directory: string,
    readonly staged: LocalRunStore,
  ) {}

  /** Finishes or drops an earlier rewrite of `directory`, then stages a new one. */
  static async open(directory: string): Promise<LocalRunRewrite> {
    await recoverLocalRewrite(directory);
    const staged = await LocalRunStore.open(join(directory, STAGING));
    await staged.prepareAppends();
    return new LocalRunRewrite(directory, staged);
  }

  async commit(): Promise<void> {
    this.staged.close();
    const staging = join(this.directory, STAGING);
    const files = (await readdir(staging)).filter((name) => name !== JOURNAL && !name.endsWith('.tmp'));
    await writeFile(join(staging, `${JOURNAL}.tmp`), JSON.stringify({ files }));
    await rename(join(staging, `${JOURNAL}.tmp`), join(staging, JOURNAL));
    await rollForward(this.directory, files);
  }

  async abandon(): Promise<void> {
    this.staged.close();
    await rm(join(this.directory, STAGING), { recursive: true, force: true });
  }
}

/** Completes a swap its journal records, or drops staging a crash left before the swap began. */
export async function recoverLocalRewrite(directory: string): Promise<'none' | 'finished' | 'dropped'> {
  const staging = join(directory, STAGING);
  const journal = await readFile(join(staging, JOURNAL), 'utf8').then(
    (text) => JSON.parse(text) as { files: string[] },
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    },
  );
  if (journal !== undefined) {
    await rollForward(directory, journal.files);
    return 'finished';
  }
  const exists = await readdir(staging).then(
    () => true,
    () => false,
  );
  if (!exists) return 'none';
  await rm(staging, { recursive: true, force: true });
  return 'dropped';
}

async function rollForward(directory: string, files: readonly string[]): Promise<void> {
  const staging = join(directory, STAGING);
  for (const name of files) {
    await rename(join(staging, name), join(directory, name)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }
  // The journal goes with the staging directory: after this the swap is done.
  await rm(staging, { recursive: true, force: true });
}
