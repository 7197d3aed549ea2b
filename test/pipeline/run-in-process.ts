/**
 * Runs a whole run in this process the way `raiden generate` does (prepare, connect, every phase, finish),
 * on scripted backends and an in-memory store, with a fixed clock: the pipeline and the strategies without
 * HTTP, processes or timing.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendFactory, BackendSpec } from '../../orchestrator/src/core/ports/backend-factory.ts';
import { prepareRun, type PreparedRun } from '../../orchestrator/src/core/run/prepare-run.ts';
import type { FinishedRun } from '../../orchestrator/src/core/run/run-pipeline.ts';
import { parseRunSpec, type RunSpec } from '../../orchestrator/src/core/run/run-spec.ts';
import type { Sample } from '../../orchestrator/src/core/verify/sample.ts';
import { generateAndFinish } from '../../bench/support/local-run.ts';
import { MemoryRunStore } from '../support/memory-run-store.ts';
import { ROOT } from '../support/run-cli.ts';
import { scriptedBackend, type ScriptedBackend, type ScriptedBackendOptions } from '../support/scripted-backend.ts';
import { connectTestBackends } from '../support/test-backends.ts';

export const CLOCK_START = new Date('2026-01-01T00:00:00Z');

/** A clock that moves one second per reading, so wall times and rates in the report are fixed. */
export function steppingClock(start = CLOCK_START): () => Date {
  let ticks = 0;
  return () => new Date(start.getTime() + 1000 * ticks++);
}

export interface InProcessRun extends FinishedRun {
  readonly prepared: PreparedRun;
  readonly store: MemoryRunStore;
  /** Backends built for the run, by `kind:model`. */
  readonly backends: ReadonlyMap<string, ScriptedBackend>;
  backend(kind: 'sglang' | 'bedrock', model?: string): ScriptedBackend;
}

export interface InProcessOptions {
  readonly profiles?: string;
  readonly spec?: Partial<Record<keyof RunSpec, unknown>>;
  /** Per backend kind: how its scripted backend answers. */
  readonly script?: Partial<Record<'sglang' | 'bedrock', Omit<ScriptedBackendOptions, 'name'>>>;
  readonly seedData?: readonly Sample[];
  readonly store?: MemoryRunStore;
}

export async function runInProcess(options: InProcessOptions = {}): Promise<InProcessRun> {
  const profiles = options.profiles ?? join(ROOT, 'examples/npc.json');
  const spec = parseRunSpec({ profiles, ...options.spec });
  const now = steppingClock();
  const prepared = prepareRun(spec, { bytes: readFileSync(profiles), location: profiles }, { startedAt: now() });
  const built = new Map<string, ScriptedBackend>();
  const create: BackendFactory = async (backendSpec: BackendSpec) => {
    const kind = backendSpec.kind;
    const model = backendSpec.kind === 'sglang' ? (backendSpec.model ?? 'qwen-sim') : backendSpec.modelId;
    const key = `${kind}:${model}`;
    let backend = built.get(key);
    if (backend === undefined) {
      backend = scriptedBackend({ name: kind, model, ...options.script?.[kind] });
      built.set(key, backend);
    }
    return backend;
  };
  const backends = await connectTestBackends(prepared, { create });
  const store = options.store ?? new MemoryRunStore();
  const { report, dataset } = await generateAndFinish({ prepared, store, backends, concurrency: 4, now, seedData: options.seedData });
  return {
    report,
    dataset,
    prepared,
    store,
    backends: built,
    backend(kind, model) {
      const found = [...built.entries()].find(([key]) => key.startsWith(`${kind}:`) && (model === undefined || key === `${kind}:${model}`));
      if (found === undefined) throw new Error(`no ${kind} backend was built`);
      return found[1];
    },
  };
}
