/**
 * The run directory of `raiden generate`, checked before anything is planned or any server is called: a
 * directory (created when missing, and removed again when the run never started in it), new, empty or a
 * run's, writable, and claimed by this process alone; a swap an interrupted `raiden reverify` left is
 * finished first.
 * Each refusal is a usage error (exit 2) that names the directory and what to do.
 */
import { readdir, rmdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { RUN_FILES } from '../contract/run-layout.ts';
import { claimWriter, releaseWriter, RunBusyError, WRITER_LEASE, type RunWriter } from '../core/run/run-manifest.ts';
import { recoverLocalRewrite } from '../store/local-run-rewrite.ts';
import { LocalRunStore } from '../store/local-run-store.ts';
import { printable } from './terminal-text.ts';
import { UsageError } from './usage-error.ts';

/** What a directory may hold without run.json: a dry run's prompts and a lock whose run never got further. */
const BEFORE_A_RUN = new Set<string>([RUN_FILES.prompts, WRITER_LEASE]);

export interface RunDirectory {
  readonly store: LocalRunStore;
  /**
   * Ends this process's claim and closes the store; a lock it cannot remove is stale for the next run anyway.
   * Directories this process created and left empty (a start refused for a bad endpoint or missing
   * credentials) are removed, so a refusal leaves nothing behind.
   */
  release(): Promise<void>;
}

/**
 * Opens `path` as this process's run directory: refuses a file, a directory of other files (a user's
 * train.json would be overwritten), one that cannot be written, and one another raiden process writes.
 * `label` names it in messages (`--out runs/x`).
 */
export async function openRunDirectory(
  path: string,
  label: string,
  writer: RunWriter,
  stderr: { write(text: string): unknown },
): Promise<RunDirectory> {
  const kind = await stat(path).then(
    (s) => (s.isDirectory() ? 'directory' : 'file'),
    () => 'missing',
  );
  if (kind === 'file')
    throw new UsageError(`${label} is a file, not a directory: give the path of a directory (it is created when missing)`);
  if (kind === 'directory') await refuseForeignFiles(path, label);
  const created = kind === 'missing' ? await missingDirectories(path) : [];
  const removeIfEmpty = async () => {
    // Deepest first; rmdir refuses a directory that holds anything, which ends the walk.
    for (const directory of created)
      if (
        !(await rmdir(directory).then(
          () => true,
          () => false,
        ))
      )
        return;
  };
  const store = await LocalRunStore.open(path).catch(async (error: NodeJS.ErrnoException) => {
    await removeIfEmpty();
    throw notWritable(label, error);
  });
  try {
    const replaced = await claimWriter(store, writer);
    if (replaced !== undefined) stderr.write(`raiden: ${printable(replaced.writer)} no longer runs; this run takes over ${path}\n`);
  } catch (error) {
    store.close();
    await removeIfEmpty();
    if (error instanceof RunBusyError) {
      throw new UsageError(
        `${label} is being written by ${printable(error.holder.writer)} since ${printable(String(error.holder.claimed_at))}: wait for it to finish or stop it, or use another directory; if that process no longer runs, delete ${join(path, WRITER_LEASE)}`,
      );
    }
    throw notWritable(label, error as NodeJS.ErrnoException);
  }
  const release = async () => {
    await releaseWriter(store, writer).catch(() => undefined);
    store.close();
    await removeIfEmpty();
  };
  try {
    // Under the lock and before anything reads the run: appends to files a swap is about to replace would be lost.
    if ((await recoverLocalRewrite(path)) === 'finished')
      stderr.write(`raiden: finished the swap an interrupted raiden reverify left in ${path}\n`);
  } catch (error) {
    await release();
    throw error;
  }
  return { store, release };
}

/** `path` and those of its parents that do not exist yet, deepest first. */
async function missingDirectories(path: string): Promise<string[]> {
  const missing: string[] = [];
  for (let directory = resolve(path); ; directory = dirname(directory)) {
    const exists = await stat(directory).then(
      () => true,
      () => false,
    );
    if (exists || dirname(directory) === directory) return missing;
    missing.push(directory);
  }
}

async function refuseForeignFiles(path: string, label: string): Promise<void> {
  const entries = await readdir(path).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read ${label}: ${error.code ?? error.message}; give a directory you can read and write`);
  });
  if (entries.includes(RUN_FILES.manifest)) return;
  const foreign = entries.filter((name) => !name.startsWith('.') && !BEFORE_A_RUN.has(name) && !/\.(tmp|swap)$/u.test(name));
  if (foreign.length === 0) return;
  const shown = foreign.slice(0, 5).map((name) => printable(name));
  throw new UsageError(
    `${label} holds files but no raiden run (no ${RUN_FILES.manifest}; found ${shown.join(', ')}${foreign.length > shown.length ? ` and ${foreign.length - shown.length} more` : ''}): give a new or empty directory so none of them is overwritten`,
  );
}

function notWritable(label: string, error: NodeJS.ErrnoException): Error {
  if (['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST', 'ENOSPC'].includes(error.code ?? ''))
    return new UsageError(`cannot write to ${label} (${error.code}): give a directory you can write to`);
  return error;
}
