/**
 * A rewrite of a run directory: the new files are written to `<run>/.reverify/`, then renamed over the
 * run's. Before the first rename, `.reverify/commit.json` names every file to move and how the run's own
 * file looked when it was staged (size, modification time, inode); a rename is atomic and one of a file
 * already moved finds nothing to move, so a swap cut short by a crash is finished by the next open, and a
 * staging directory without commit.json (a crash before the swap) is dropped. A run file that changed
 * since (something appended to it without finishing the swap) is never overwritten: the swap is refused.
 */
import { lstat, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RunFileError } from '../core/ports/run-store.ts';
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
    const journal = await writeCommitJournal(this.directory);
    await rollForward(this.directory, journal);
  }

  async abandon(): Promise<void> {
    this.staged.close();
    await rm(join(this.directory, STAGING), { recursive: true, force: true });
  }
}

/** How a run file looked when its replacement was staged; null when the run had no such file. */
type FileState = { readonly size: string; readonly mtime_ns: string; readonly ino: string } | null;

/** commit.json: each staged file and the state of the run file it replaces. */
export interface CommitJournal {
  readonly files: readonly { readonly name: string; readonly replaces: FileState }[];
}

async function fileState(path: string): Promise<FileState> {
  const info = await lstat(path, { bigint: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  return info === undefined ? null : { size: String(info.size), mtime_ns: String(info.mtimeNs), ino: String(info.ino) };
}

/** Writes the journal of the staged rewrite of `directory`: the first step of a commit, after which the swap is decided. */
export async function writeCommitJournal(directory: string): Promise<CommitJournal> {
  const staging = join(directory, STAGING);
  const names = (await readdir(staging)).filter((name) => name !== JOURNAL && !name.endsWith('.tmp'));
  const journal: CommitJournal = {
    files: await Promise.all(names.map(async (name) => ({ name, replaces: await fileState(join(directory, name)) }))),
  };
  await writeFile(join(staging, `${JOURNAL}.tmp`), JSON.stringify(journal));
  await rename(join(staging, `${JOURNAL}.tmp`), join(staging, JOURNAL));
  return journal;
}

/** Whether `directory` holds the journal of a swap that did not finish: its files are part old, part new until recoverLocalRewrite ends it. */
export async function localRewritePending(directory: string): Promise<boolean> {
  return stat(join(directory, STAGING, JOURNAL)).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return false;
      throw error;
    },
  );
}

/**
 * Completes a swap its journal records, or drops staging a crash left before the swap began. Call with
 * the run's lock held, before anything else reads or writes the run: raiden generate and raiden reverify do.
 */
export async function recoverLocalRewrite(directory: string): Promise<'none' | 'finished' | 'dropped'> {
  const staging = join(directory, STAGING);
  const journal = await readFile(join(staging, JOURNAL), 'utf8').then(
    (text) => JSON.parse(text) as CommitJournal | { files: string[] },
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    },
  );
  if (journal !== undefined) {
    await rollForward(directory, journal);
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

async function rollForward(directory: string, journal: CommitJournal | { files: string[] }): Promise<void> {
  const staging = join(directory, STAGING);
  const pending: string[] = [];
  for (const file of journal.files) {
    const name = typeof file === 'string' ? file : file.name;
    const staged = await stat(join(staging, name)).then(
      () => true,
      () => false,
    );
    if (!staged) continue;
    // Checked for every file before any moves: a refused swap leaves the run's files as they are.
    const replaces = typeof file === 'string' ? undefined : file.replaces;
    const now = await fileState(join(directory, name));
    if (replaces === undefined || JSON.stringify(now) !== JSON.stringify(replaces))
      throw new RunFileError(
        `${join(directory, name)} changed after an interrupted raiden reverify staged its replacement in ${staging}` +
          `${replaces === undefined ? ' (the journal, of an older raiden, does not say how it looked)' : ''}: ` +
          `the staged files are not put in place, so nothing written since is lost; delete ${staging} and run raiden reverify again`,
      );
    pending.push(name);
  }
  for (const name of pending) {
    await rename(join(staging, name), join(directory, name)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }
  // The journal goes with the staging directory: after this the swap is done.
  await rm(staging, { recursive: true, force: true });
}
