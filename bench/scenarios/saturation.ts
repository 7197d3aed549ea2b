import { join } from 'node:path';
import { runPipelineChild } from '../support/run-child.ts';
import { fmt, type BenchContext, type ScenarioResult } from '../support/scenario.ts';
import { startSimProcess } from '../support/sim-process.ts';
import { writeSyntheticProfiles } from '../support/synthetic-profiles.ts';
import { meanServiceMs, warmUtilisation } from '../support/timeline.ts';

export const ENGINE_TIMING = {
  'decode-ms-per-token': 0.5,
  'prefill-ms-per-char': 0.01,
  'sbk-output-tokens': 350,
  'cm-output-tokens': 650,
} as const;

export interface SaturationRun {
  readonly slots: number;
  readonly utilisation: number;
  readonly overall: number;
  /** Requests the engine decoded (transport faults never reach it). */
  readonly served: number;
  readonly requests: number;
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly maxRssMb: number;
  readonly profiles: string;
  readonly report: string;
  readonly meanServiceMs: number;
}

/** Drives the real `raiden generate` against the engine model and measures slot utilisation. */
export async function saturationRun(
  context: BenchContext,
  slots: number,
  extraSim: Record<string, number> = {},
  extraArgs: string[] = [],
): Promise<SaturationRun> {
  const profilesPerSlot = context.quick ? 3 : 10;
  const tag = `${slots}-${Object.values(extraSim).join('-')}`;
  const profiles = writeSyntheticProfiles(join(context.workDir, `saturation-${slots}.jsonl`), slots * profilesPerSlot);
  const sim = await startSimProcess({ slots, sigma: 0.5, ...ENGINE_TIMING, ...extraSim });
  try {
    const out = join(context.workDir, `saturation-run-${tag}`);
    const child = await runPipelineChild({
      mode: 'cli',
      args: [
        'generate',
        '--profiles',
        profiles,
        '--endpoint',
        sim.url,
        '--include-cm',
        '--concurrency',
        String(slots),
        '--out',
        out,
        ...extraArgs,
      ],
    });
    const stats = await sim.stats();
    const engine = stats.engine;
    if (!engine) throw new Error('simulated server ran without its engine model');
    const { utilisation } = warmUtilisation(engine.timeline, slots);
    const lastEnd = Math.max(...engine.timeline.map(([, , end]) => end));
    const firstArrival = Math.min(...engine.timeline.map(([arrival]) => arrival));
    const overall = engine.busySlotMs / (slots * (lastEnd - firstArrival));
    return {
      slots,
      utilisation,
      overall,
      served: engine.served,
      requests: stats.chatRequests,
      wallMs: child.wallMs,
      cpuMs: child.cpuMs,
      maxRssMb: child.maxRssMb,
      profiles,
      report: join(out, 'report.json'),
      meanServiceMs: meanServiceMs(engine.timeline),
    };
  } finally {
    await sim.stop();
  }
}

export function saturationScenarioFrom(context: BenchContext, runs: readonly SaturationRun[]): ScenarioResult {
  return {
    name: 'Saturation',
    settings: `engine model: ${ENGINE_TIMING['sbk-output-tokens']} (SBK) / ${ENGINE_TIMING['cm-output-tokens']} (CM) output tokens x ${ENGINE_TIMING['decode-ms-per-token']} ms, prefill ${ENGINE_TIMING['prefill-ms-per-char']} ms per uncached character, lognormal sigma 0.5; --concurrency = slots (the hardest case: every gap between a response and the next request idles a slot); ${context.quick ? 3 : 10} synthetic profiles per slot, 2 SBK + 1 CM each, through \`raiden generate\``,
    figures: runs.flatMap((run) => [
      {
        label: `${run.slots} slots: achieved / capacity while warm`,
        value: fmt(run.utilisation, 3),
        target: '>= 0.95',
        met: run.utilisation >= 0.95,
      },
      { label: `${run.slots} slots: achieved / capacity over the whole run, ramp-up and drain included`, value: fmt(run.overall, 3) },
      { label: `${run.slots} slots: mean service time / requests served`, value: `${fmt(run.meanServiceMs, 0)} ms / ${run.requests}` },
    ]),
    notes: [
      'Capacity = slots / mean service time; "while warm" runs from the first to the last moment every slot was busy (before: ramp-up; after: the server drains the last requests).',
    ],
  };
}
