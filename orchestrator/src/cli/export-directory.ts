/**
 * Where `raiden export` writes: a new directory, an empty one, or one an earlier raiden export made, and
 * nothing else, so a user's README.md or train.parquet is never overwritten. The files are written into a
 * hidden directory beside `--out` and renamed into place as a whole: a kill mid-export leaves the earlier
 * export (or nothing), never files of two runs side by side, and a file the new export lacks (an earlier
 * validation.parquet) does not stay behind.
 */
import { lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { ExportSink } from '../core/export/run-export.ts';
import { printable } from './terminal-text.ts';
import { UsageError } from './usage-error.ts';

/** Written last into every export: what makes a directory one raiden may replace, and which files it holds. */
export const EXPORT_MARKER = '.raiden-export.json';

interface ExportMarker {
  readonly run: string;
  readonly format: string;
  readonly files: readonly string[];
  readonly exported_at: string;
}

export interface ExportDirectory {
  /** Writes into the staging directory; nothing is visible at `--out` before commit. */
  readonly sink: ExportSink;
  /** Records the export in its marker and puts the staging directory in place of `--out`. */
  commit(marker: Omit<ExportMarker, 'files'>): Promise<void>;
  /** Removes the staging directory: `--out` stays as it was. */
  abandon(): Promise<void>;
}

/** Checks `out` and opens a staging directory beside it; refusals are usage errors that say what to give instead. */
export async function openExportDirectory(out: string): Promise<ExportDirectory> {
  const target = resolve(out);
  const label = `--out ${printable(out)}`;
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
  const staging = await mkdir(parent, { recursive: true })
    .then(() => mkdtemp(join(parent, `.${basename(target)}.export-`)))
    .catch((error: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot write beside ${label} (${error.code ?? error.message}): give a directory you can write to`);
    });
  const files: string[] = [];
  return {
    sink: {
      location: out,
      async write(name, body) {
        await writeFile(join(staging, name), body);
        files.push(name);
      },
    },
    async commit(marker) {
      await writeFile(join(staging, EXPORT_MARKER), `${JSON.stringify({ ...marker, files }, null, 2)}\n`);
      const present = await lstat(target).then(
        () => true,
        () => false,
      );
      if (!present) {
        await rename(staging, target);
        return;
      }
      // Two renames, each atomic: between them --out is briefly missing, never a mix of two exports.
      const replaced = `${staging}.replaced`;
      await rename(target, replaced);
      await rename(staging, target);
      await rm(replaced, { recursive: true, force: true });
    },
    async abandon() {
      await rm(staging, { recursive: true, force: true });
    },
  };
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
