import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LocalResponseCache } from '../../orchestrator/src/store/local-response-cache.ts';
import type { CacheChildConfig, CacheChildResult } from '../support/cache-child.ts';
import { runJsonChild } from '../support/run-child.ts';
import { fmt, type BenchContext, type ScenarioResult } from '../support/scenario.ts';
import { startSimProcess } from '../support/sim-process.ts';
import { writeSyntheticProfiles } from '../support/synthetic-profiles.ts';

const CHILD = new URL('../support/cache-child.ts', import.meta.url).pathname;

function runChild(config: CacheChildConfig): Promise<CacheChildResult> {
  return runJsonChild<CacheChildResult>(CHILD, config);
}

/** Entries the cache holds, and the bytes its segment files (records and indexes) take on disk. */
async function diskUse(cacheDir: string): Promise<{ entries: number; bytes: number; allocated: number }> {
  const base = join(cacheDir, 'responses-v2', 'segments');
  let bytes = 0;
  let allocated = 0;
  for (const name of readdirSync(base)) {
    const info = statSync(join(base, name));
    bytes += info.size;
    allocated += info.blocks * 512;
  }
  return { entries: (await LocalResponseCache.open(cacheDir)).entries, bytes, allocated };
}

/**
 * The same run three times against an instant simulated server, each in a fresh process: without the
 * cache, with an empty cache, and again into a new run directory; then `raiden reverify` of the last. The
 * server counts the calls; the differences in CPU time are what the cache costs and saves per request.
 */
export async function responseCacheScenario(context: BenchContext): Promise<ScenarioResult> {
  const count = context.quick ? 1_000 : 3_000;
  const profiles = writeSyntheticProfiles(join(context.workDir, `cache-${count}.jsonl`), count);
  const cacheDir = join(context.workDir, 'response-cache');
  const sim = await startSimProcess({});
  try {
    const run = (name: string, cache?: string) =>
      runChild({
        mode: 'generate',
        profiles,
        endpoint: sim.url,
        out: join(context.workDir, name),
        concurrency: 64,
        ...(cache ? { cacheDir: cache } : {}),
      });
    const calls = async () => (await sim.stats()).chatRequests;
    const plain = await run('cache-plain');
    const afterPlain = await calls();
    const cold = await run('cache-cold', cacheDir);
    const afterCold = await calls();
    const disk = await diskUse(cacheDir);
    const warm = await run('cache-warm', cacheDir);
    const afterWarm = await calls();
    const reverify = await runChild({ mode: 'reverify', out: join(context.workDir, 'cache-warm'), cacheDir });
    const afterReverify = await calls();

    const coldCalls = afterCold - afterPlain;
    const warmCalls = afterWarm - afterCold;
    const perRequest = (result: CacheChildResult, requests: number) => result.cpuMs / requests;
    const missCost = perRequest(cold, coldCalls) - perRequest(plain, afterPlain);
    const outputs = warm.accepted + (coldCalls - cold.accepted);
    return {
      name: 'Response cache',
      settings: `${count.toLocaleString('en-US')} synthetic profiles x (2 SBK + 1 CM) through the pipeline of \`raiden generate\` (the real SGLang backend over HTTP, connectRunBackends with the cache in its settings), --concurrency 64, simulated server answering at once (in its own process); each run in a fresh process: without the cache, with an empty cache directory, again into a new run directory; then \`raiden reverify --no-fill\` of the last run`,
      figures: [
        {
          label: 'model calls: without the cache / empty cache / rerun into a new run directory',
          value: `${afterPlain} / ${coldCalls} / ${warmCalls}`,
        },
        {
          label: 'calls the rerun saved (answers given by the cache)',
          value: `${warm.cacheHits} of ${coldCalls}`,
          target: 'all',
          met: warmCalls === 0 && warm.cacheHits === coldCalls,
        },
        {
          label: 'samples of the rerun / of the first cached run',
          value: `${warm.accepted} / ${cold.accepted}`,
          target: 'equal',
          met: warm.accepted === cold.accepted,
        },
        {
          label: 'USD the rerun saved, as report.json counts it (SGLang GPU time at 2,500 tokens/s, $63/h)',
          value: fmt(warm.usdSaved ?? 0, 2),
        },
        { label: 'orchestrator CPU per request without the cache (whole command)', value: `${fmt(perRequest(plain, afterPlain), 3)} ms` },
        {
          label: 'added CPU per request with an empty cache (key, lookup, store)',
          value: `${fmt(missCost, 3)} ms`,
          target: '<= 0.1 ms',
          met: missCost <= 0.1,
        },
        { label: 'CPU per request answered from the cache (whole command)', value: `${fmt(perRequest(warm, warm.cacheHits), 3)} ms` },
        {
          label: 'wall time: empty cache / rerun from the cache',
          value: `${fmt(cold.wallMs / 1000, 1)} s / ${fmt(warm.wallMs / 1000, 1)} s`,
        },
        {
          label: 'disk per cached answer: bytes written / allocated',
          value: `${fmt(disk.bytes / disk.entries, 0)} / ${fmt(disk.allocated / disk.entries, 0)}`,
        },
        {
          label: 'cache entries / allocated size',
          value: `${disk.entries.toLocaleString('en-US')} / ${fmt(disk.allocated / 1024 ** 2, 1)} MiB`,
        },
        {
          label: `raiden reverify of ${outputs.toLocaleString('en-US')} outputs: model calls / CPU per output`,
          value: `${afterReverify - afterWarm} / ${fmt(reverify.cpuMs / outputs, 3)} ms`,
          target: '0 calls',
          met: afterReverify === afterWarm,
        },
      ],
      notes: [
        'The added CPU per request is the difference between two whole-command runs, so it carries their noise; the disk figures count the segment files, records and indexes, of the cache directory.',
      ],
    };
  } finally {
    await sim.stop();
  }
}
