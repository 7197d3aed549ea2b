import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { normalizeProfiles, type InputRejection, type Profile } from './profile.ts';
import { parseProfileSource, type ProfileFormat } from './profile-formats.ts';

export interface LoadedProfiles {
  readonly format: ProfileFormat;
  readonly profiles: Profile[];
  readonly rejected: InputRejection[];
}

/** Decodes bytes as UTF-8, noting (instead of throwing on) invalid sequences so one bad record never sinks the file. */
export function decodeUtf8(bytes: Uint8Array): { text: string; hadInvalidUtf8: boolean } {
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), hadInvalidUtf8: false };
  } catch {
    return { text: new TextDecoder('utf-8').decode(bytes), hadInvalidUtf8: true };
  }
}

export function parseProfiles(bytes: Uint8Array, file: string, format?: ProfileFormat): LoadedProfiles {
  const { text, hadInvalidUtf8 } = decodeUtf8(bytes);
  const parsed = parseProfileSource(text, file, format, hadInvalidUtf8);
  const normalized = normalizeProfiles(parsed.records);
  return { format: parsed.format, profiles: normalized.profiles, rejected: [...parsed.rejected, ...normalized.rejected] };
}

export async function loadProfilesFile(path: string, format?: ProfileFormat): Promise<LoadedProfiles> {
  return parseProfiles(await readFile(path), basename(path), format);
}
