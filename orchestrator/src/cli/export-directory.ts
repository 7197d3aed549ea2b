/**
 * Where `raiden export` writes: a new directory, an empty one, or one an earlier raiden export made, and
 * nothing else, so a user's README.md or train.parquet is never overwritten. The files are written into a
 * hidden work directory beside `--out` and renamed into place as a whole: a kill mid-export leaves the earlier
 * export (or nothing), never files of two runs side by side, and a file the new export lacks (an earlier
 * validation.parquet) does not stay behind. The work directory names its export and its process in a marker,
 * so the next export into the same `--out` removes what a killed one left (and puts back an earlier export a
 * kill left displaced), and says where anything it cannot tell as its own is.
 */
import { lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { ExportSink } from '../core/export/run-export.ts';
import type { WriterLease } from '../core/run/run-manifest.ts';
import { processWriter } from './process-writer.ts';
import { printable } from './terminal-text.ts';
import { UsageError } from './usage-error.ts';

/** Written last into every export: what makes a directory one raiden may replace, and which files it holds. */
export const EXPORT_MARKER = '.raiden-export.json';

/** Written first into every work directory: the `--out` it is for and the process writing it. */
export const WORK_MARKER = 'raiden-export-work.json';

/** Inside the work directory: the new export, and while the two renames of the commit run, the earlier one. */
const STAGED = 'new';
const DISPLACED = 'old';

interface ExportMarker {
  readonly run: string;
  readonly format: string;
  readonly files: readonly string[];
  readonly exported_at: string;
}

type WorkMarker = WriterLease & { readonly out: string };

export interface ExportDirectory {
  /** Writes into the staging directory; nothing is visible at `--out` before commit. */
  readonly sink: ExportSink;
  /** What was done about work directories an earlier, killed export left (lines for stderr). */
  readonly notes: readonly string[];
  /** Records the export in its marker and puts the staging directory in place of `--out`. */
  commit(marker: Omit<ExportMarker, 'files'>): Promise<void>;
  /** Removes the staging directory: `--out` stays as it was. */
  abandon(): Promise<void>;
}

/** Checks `out` and opens a staging directory beside it; refusals are usage errors that say what to give instead. */
export async function openExportDirectory(out: string): Promise<ExportDirectory> {
  const target = resolve(out);
  const label = `--out ${printable(out)}`;
  const notes = await clearStaleWork(target);
  const info = await lstat(target).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw new UsageError(`cannot read ${label} (${error.code ?? error.message}): give a directory you can write to`);
  });
  if (info !== undefined && !info.isDirectory())
    throw new UsageError(
      `${label} is ${info.isSymbolicLink() ? 'a symbolic link' : 'a file'}, not a directory: give the path of a directory for the export (created when missing)`,
    );
  if (info !== undefined) await refuseForeignFiles(target, label);
  // The export replaces the directory as a whole, which the shell's working directory cannot be.
  const fromCwd = relative(target, process.cwd());
  if (fromCwd !== '..' && !fromCwd.startsWith(`..${sep}`) && !isAbsolute(fromCwd))
    throw new UsageError(`${label} is the directory you are in (or holds it): give a directory inside it instead, such as --out export`);

  const parent = dirname(target);
  const work = await mkdir(parent, { recursive: true })
    .then(() => mkdtemp(join(parent, workPrefix(target))))
    .catch((error: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot write beside ${label} (${error.code ?? error.message}): give a directory you can write to`);
    });
  const owner: WorkMarker = { ...processWriter('raiden export').lease, out: target };
  const staging = join(work, STAGED);
  try {
    await writeFile(join(work, WORK_MARKER), `${JSON.stringify(owner, null, 2)}\n`);
    await mkdir(staging);
  } catch (error) {
    await rm(work, { recursive: true, force: true });
    throw new UsageError(
      `cannot write beside ${label} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): give a directory you can write to`,
    );
  }
  const files: string[] = [];
  return {
    sink: {
      location: out,
      async write(name, body) {
        await writeFile(join(staging, name), body);
        files.push(name);
      },
    },
    notes,
    async commit(marker) {
      await writeFile(join(staging, EXPORT_MARKER), `${JSON.stringify({ ...marker, files }, null, 2)}\n`);
      if (await exists(target)) {
        // Two renames, each atomic: between them --out is briefly missing, never a mix of two exports; a kill
        // there leaves the earlier export in the work directory, which the next export puts back.
        await rename(target, join(work, DISPLACED));
      }
      await rename(staging, target);
      await rm(work, { recursive: true, force: true });
    },
    async abandon() {
      await rm(work, { recursive: true, force: true });
    },
  };
}

/** `.<name>.export-`: the work directories of exports into `target` start with it (mkdtemp adds six characters). */
function workPrefix(target: string): string {
  return `.${basename(target)}.export-`;
}

function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Removes the work directories exports into `target` left when they were killed: named as workPrefix names
 * them, holding a marker for this `target` whose process no longer runs. An earlier export a kill displaced
 * (target missing, the work directory holding it) is put back first. Anything else of that name is left
 * where it is, and said.
 */
async function clearStaleWork(target: string): Promise<string[]> {
  const parent = dirname(target);
  const prefix = workPrefix(target);
  const names = await readdir(parent).catch(() => [] as string[]);
  const notes: string[] = [];
  const judge = processWriter('raiden export');
  for (const name of names.filter((entry) => entry.startsWith(prefix)).sort()) {
    const path = join(parent, name);
    const info = await lstat(path).catch(() => undefined);
    if (info === undefined || !info.isDirectory()) continue;
    const marker = await readFile(join(path, WORK_MARKER), 'utf8').then(
      (text) => JSON.parse(text) as Partial<WorkMarker>,
      () => undefined,
    );
    if (marker?.out !== target || typeof marker.writer !== 'string' || typeof marker.claimed_at !== 'string') {
      notes.push(
        `${printable(path)} looks like the work directory of a killed raiden export, but holds no marker of an export into ${printable(target)}: delete it if no raiden export runs`,
      );
      continue;
    }
    if (await judge.isActive(marker as WorkMarker)) {
      notes.push(`${printable(path)} belongs to ${printable(marker.writer)}, which may still run: left as it is`);
      continue;
    }
    const displaced = join(path, DISPLACED);
    if (!(await exists(target)) && (await exists(displaced))) {
      await rename(displaced, target);
      notes.push(`put back the earlier export into ${printable(target)}, which a killed raiden export had moved to ${printable(path)}`);
    }
    await rm(path, { recursive: true, force: true });
    notes.push(`removed ${printable(path)}, which a killed raiden export left`);
  }
  return notes;
}

async function refuseForeignFiles(target: string, label: string): Promise<void> {
  const entries = await readdir(target).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read ${label} (${error.code ?? error.message}): give a directory you can read and write`);
  });
  if (entries.length === 0) return;
  const marker = await readFile(join(target, EXPORT_MARKER), 'utf8').then(
    (text) => JSON.parse(text) as Partial<ExportMarker>,
    () => undefined,
  );
  const ours = new Set([EXPORT_MARKER, ...(Array.isArray(marker?.files) ? marker.files : [])]);
  const foreign = marker === undefined ? entries : entries.filter((name) => !ours.has(name));
  if (foreign.length === 0) return;
  const shown = foreign.slice(0, 5).map((name) => printable(name));
  throw new UsageError(
    `${label} holds files that ${marker === undefined ? 'are not a raiden export' : 'an earlier raiden export did not write'} (${shown.join(', ')}${
      foreign.length > shown.length ? ` and ${foreign.length - shown.length} more` : ''
    }): give a new or empty directory, or one an earlier raiden export wrote, so none of them is overwritten`,
  );
}
