/** A RunStore in memory, for in-process tests of the run pipeline: same contract as the local and S3 stores. */
import type { RejectRecord, RunEventRecord, RunStore, Sample } from '../../orchestrator/src/core/ports/run-store.ts';

export class MemoryRunStore implements RunStore {
  readonly location = 'memory://run/';
  readonly samples: Sample[] = [];
  readonly rejects: RejectRecord[] = [];
  readonly events: RunEventRecord[] = [];
  /** Whole files by name: JSON documents parsed back, line files as their lines. */
  readonly files = new Map<string, unknown>();

  async prepareAppends(): Promise<void> {}

  async *readSamples(): AsyncIterable<Sample> {
    const seen = new Set<string>();
    for (const sample of [...this.samples]) {
      if (seen.has(sample.id)) continue;
      seen.add(sample.id);
      yield sample;
    }
  }

  async appendSample(sample: Sample): Promise<void> {
    this.samples.push(structuredClone(sample));
  }

  async *readRejects(): AsyncIterable<RejectRecord> {
    yield* [...this.rejects];
  }

  async appendReject(reject: RejectRecord): Promise<void> {
    this.rejects.push(structuredClone(reject));
  }

  async appendEvent(event: RunEventRecord): Promise<void> {
    this.events.push(structuredClone(event));
  }

  async flushEvents(): Promise<void> {}

  async *readEvents(): AsyncIterable<RunEventRecord> {
    yield* [...this.events];
  }

  async readJson<T>(name: string): Promise<T | undefined> {
    const value = this.files.get(name);
    return value === undefined ? undefined : (structuredClone(value) as T);
  }

  async writeJson(name: string, value: unknown): Promise<void> {
    this.files.set(name, JSON.parse(JSON.stringify(value)));
  }

  async writeLines(name: string, lines: Iterable<string> | AsyncIterable<string>): Promise<void> {
    const all: string[] = [];
    for await (const line of lines) all.push(line);
    this.files.set(name, all);
  }
}
