/**
 * Runs the generation pipeline in a fresh process and prints its resource use as JSON on the last line, so
 * every measurement starts from a clean heap and counts only the orchestrator's CPU time.
 *   mode "cli":    the real `raiden generate` with the given arguments;
 *   mode "engine": runGeneration directly, with the slots in plan order or shuffled (prefix-reuse scenario).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../orchestrator/src/cli/main.ts';
import { runGeneration } from '../../orchestrator/src/core/run/generation-run.ts';
import { planSlots } from '../../orchestrator/src/core/profiles/plan.ts';
import { parseProfiles } from '../../orchestrator/src/core/profiles/profile-loader.ts';
import { seededRandom, shuffled } from '../../orchestrator/src/core/profiles/rng.ts';
import { SglangBackend } from '../../orchestrator/src/llm/sglang-backend.ts';
import { LocalRunStore } from '../../orchestrator/src/store/local-run-store.ts';

export type ChildConfig =
  | { mode: 'cli'; args: string[] }
  | { mode: 'engine'; profiles: string; endpoint: string; concurrency: number; order: 'grouped' | 'random'; sbk: number; cm: number };

export interface ChildResult {
  readonly exitCode: number;
  readonly cpuMs: number;
  readonly wallMs: number;
  readonly maxRssMb: number;
  readonly requests?: number;
  readonly accepted?: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
const quiet = { isTTY: false, write: () => true };
const cpuBefore = process.cpuUsage();
const started = performance.now();
let result: Omit<ChildResult, 'cpuMs' | 'wallMs' | 'maxRssMb'>;
if (config.mode === 'cli') {
  result = { exitCode: await main(config.args, { stdout: quiet, stderr: quiet }) };
} else {
  const { profiles } = parseProfiles(readFileSync(config.profiles), config.profiles);
  let slots = planSlots(profiles, { samplesPerProfile: config.sbk, cmPerProfile: config.cm, language: 'auto', seed: 42 });
  if (config.order === 'random') slots = shuffled(slots, seededRandom(7));
  const runDirectory = mkdtempSync(join(tmpdir(), 'raiden-bench-'));
  const store = await LocalRunStore.open(runDirectory);
  const backend = await SglangBackend.connect({ endpoints: [config.endpoint] });
  const outcome = await runGeneration({
    profiles: new Map(profiles.map((p) => [p.id, p])),
    slots,
    backend,
    store,
    existing: [],
    concurrency: config.concurrency,
    maxAttempts: 3,
    strategy: 'sglang',
  });
  store.close();
  rmSync(runDirectory, { recursive: true, force: true });
  result = { exitCode: outcome.emptySlots.length === 0 ? 0 : 3, requests: outcome.counters.requests, accepted: outcome.counters.accepted };
}
const cpu = process.cpuUsage(cpuBefore);
const output: ChildResult = {
  ...result,
  cpuMs: (cpu.user + cpu.system) / 1000,
  wallMs: performance.now() - started,
  maxRssMb: process.resourceUsage().maxRSS / 1024,
};
process.stdout.write(`\n${JSON.stringify(output)}\n`);
