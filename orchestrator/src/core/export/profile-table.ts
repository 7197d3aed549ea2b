/**
 * The run's profile table (profiles.jsonl): each planned profile with the text its prompts showed, so a
 * trainer's prompt holds the profile exactly as the generator saw it. Samples keep only the parsed fields.
 */
import { RUN_FILES } from '../../contract/run-layout.ts';
import type { RunStore } from '../ports/run-store.ts';
import type { PreparedRun } from '../run/prepare-run.ts';
import type { Language } from '../verify/language.ts';

export interface ProfileRecord {
  readonly id: string;
  readonly name: string;
  /** The language the run's prompts used for this profile (the profile's own unless the run forced one). */
  readonly language: Language;
  readonly text: string;
}

/**
 * The planned profiles' records, in plan order, streamed from the plan's slots (a profile's slots are
 * contiguous and every planned profile has some): the table of a million profiles is never held.
 */
export function* profileRecords(prepared: Pick<PreparedRun, 'plan' | 'plannedSlots'>): Generator<ProfileRecord> {
  const forced = prepared.plan.spec.language;
  let last: string | undefined;
  for (const { profile } of prepared.plannedSlots()) {
    if (profile.id === last) continue;
    last = profile.id;
    yield { id: profile.id, name: profile.name, language: forced === 'auto' ? profile.language : forced, text: profile.text };
  }
}

/** Writes profiles.jsonl for a prepared run; call it once the run is claimed, before the first sample. */
export async function writeProfileTable(
  store: Pick<RunStore, 'writeLines'>,
  prepared: Pick<PreparedRun, 'plan' | 'plannedSlots'>,
): Promise<void> {
  await store.writeLines(
    RUN_FILES.profiles,
    (function* () {
      for (const record of profileRecords(prepared)) yield JSON.stringify(record);
    })(),
  );
}

/**
 * Profile text held at once by a ProfileWindow, in characters: about 16,000 profiles of CharacterEval's
 * size, far more than the profiles whose samples arrive interleaved (a workflow batch, the requests a local
 * run has in flight), and some tens of megabytes whatever the run's size.
 */
export const PROFILE_WINDOW_CHARS = 16 * 1024 * 1024;

/**
 * The profile table read forward, keeping the records read last up to a bound of text. A split file lists
 * its samples in about the table's order (a local run accepts them in plan order, a workflow run's batches
 * are ranges of the plan), so an export reads profiles.jsonl about once per split however many profiles it
 * has. A profile read long ago and dropped is found by reading the table again from its start: time, not
 * memory; a profile the whole table lacks is remembered as missing.
 */
export class ProfileWindow {
  private readonly window = new Map<string, ProfileRecord>();
  private readonly missing = new Set<string>();
  private windowChars = 0;
  private lines: AsyncIterator<string> | undefined;
  private lineInPass = 0;
  /** Lines of the whole table, known once a read reached its end. */
  private tableLines: number | undefined;
  private opened = 0;

  private constructor(
    private readonly open: () => Promise<AsyncIterable<string> | undefined>,
    private readonly parse: (line: string) => ProfileRecord,
    private readonly budgetChars: number,
  ) {}

  /** The table whose lines `open` reads from the start at each call, or undefined when the run has none. */
  static async open(
    open: () => Promise<AsyncIterable<string> | undefined>,
    parse: (line: string) => ProfileRecord,
    budgetChars = PROFILE_WINDOW_CHARS,
  ): Promise<ProfileWindow | undefined> {
    const first = await open();
    if (first === undefined) return undefined;
    const table = new ProfileWindow(open, parse, budgetChars);
    table.lines = first[Symbol.asyncIterator]();
    table.opened = 1;
    return table;
  }

  /** How many times the table was opened: once per split when the samples come in table order. */
  get passes(): number {
    return this.opened;
  }

  async get(id: string): Promise<ProfileRecord | undefined> {
    const held = this.window.get(id);
    if (held !== undefined) return held;
    if (this.missing.has(id)) return undefined;
    let scanned = 0;
    for (;;) {
      const line = await this.nextLine();
      if (line === undefined) {
        this.tableLines = this.lineInPass;
        this.lines = undefined;
        // Every line of the table has been read since the miss: the profile is not in it.
        if (scanned >= this.tableLines) {
          this.missing.add(id);
          return undefined;
        }
        continue;
      }
      scanned++;
      if (line.trim() === '') continue;
      const record = this.parse(line);
      this.hold(record);
      if (record.id === id) return record;
    }
  }

  private async nextLine(): Promise<string | undefined> {
    if (this.lines === undefined) {
      this.lineInPass = 0;
      const lines = await this.open();
      // Gone since the export began: every profile not held is missing.
      if (lines === undefined) return undefined;
      this.lines = lines[Symbol.asyncIterator]();
      this.opened++;
    }
    const next = await this.lines.next();
    if (next.done === true) return undefined;
    this.lineInPass++;
    return next.value;
  }

  private hold(record: ProfileRecord): void {
    const previous = this.window.get(record.id);
    if (previous !== undefined) {
      this.windowChars -= previous.text.length;
      this.window.delete(record.id);
    }
    this.window.set(record.id, record);
    this.windowChars += record.text.length;
    // The oldest first; the record just read always stays.
    for (const [oldId, old] of this.window) {
      if (this.windowChars <= this.budgetChars || oldId === record.id) break;
      this.window.delete(oldId);
      this.windowChars -= old.text.length;
    }
  }
}
