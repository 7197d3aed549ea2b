import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { runPipelineChild } from '../support/run-child.ts';
import type { ChildResult } from '../support/pipeline-child.ts';
import { fmt, type BenchContext, type Figure, type ScenarioResult } from '../support/scenario.ts';
import { startSimProcess } from '../support/sim-process.ts';
import { writeSyntheticProfiles } from '../support/synthetic-profiles.ts';

/** Slots per synthetic profile: 2 SBK + 1 CM. */
const SLOTS_PER_PROFILE = 3;
/** Peak RSS the dry run may reach at any size of the memory curve. */
const DRY_RUN_RSS_MB = 512;
/** How much the dry run's peak RSS may grow from the curve's smallest run to its largest: memory flat in slots. */
const DRY_RUN_GROWTH = 1.3;

const slotsLabel = (slots: number) => (slots >= 1e6 ? `${slots / 1e6}M` : `${slots / 1e3}k`);
const profilesFor = (slots: number) => Math.ceil(slots / SLOTS_PER_PROFILE);

/** One child run, its run directory removed afterwards (a dry run of a million slots writes gigabytes of prompts). */
async function measured(args: string[], out: string): Promise<ChildResult> {
  try {
    const child = await runPipelineChild({ mode: 'cli', args: [...args, '--out', out] });
    if (child.exitCode !== 0) throw new Error(`raiden ${args.join(' ')} exited with ${child.exitCode}`);
    return child;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/**
 * The orchestrator at scale, each run in its own process: `raiden generate` of 30,000 slots against an instant
 * server with the response cache on (CPU per request and peak RSS), then the memory curve, peak RSS and wall time per slot of the dry run
 * (the whole plan: profiles read, slots planned and estimated, every prompt written) at 30k, 300k and 1M slots.
 */
export async function scaleMemoryScenario(context: BenchContext): Promise<ScenarioResult> {
  const count = context.quick ? 2_000 : 10_000;
  const profiles = writeSyntheticProfiles(join(context.workDir, `scale-${count}.jsonl`), count);
  const sim = await startSimProcess({});
  let live: ChildResult;
  let requests: number;
  try {
    live = await measured(
      [
        'generate',
        '--profiles',
        profiles,
        '--endpoint',
        sim.url,
        '--include-cm',
        '--concurrency',
        '64',
        '--cache-dir',
        join(context.workDir, 'scale-cache'),
      ],
      join(context.workDir, `scale-run-${count}`),
    );
    requests = (await sim.stats()).chatRequests;
  } finally {
    await sim.stop();
  }
  const cpuPerRequest = live.cpuMs / requests;

  const curveSlots = context.quick ? [30_000, 300_000] : [30_000, 300_000, 1_000_000];
  const curve: { slots: number; run: ChildResult }[] = [];
  for (const slots of curveSlots) {
    const file = writeSyntheticProfiles(join(context.workDir, `curve-${slots}.jsonl`), profilesFor(slots));
    const run = await measured(['generate', '--dry-run', '--include-cm', '--profiles', file], join(context.workDir, `curve-run-${slots}`));
    rmSync(file, { force: true });
    curve.push({ slots, run });
  }
  const smallest = curve[0] as (typeof curve)[number];
  const largest = curve[curve.length - 1] as (typeof curve)[number];
  const growth = largest.run.maxRssMb / smallest.run.maxRssMb;

  const figures: Figure[] = [
    { label: 'requests', value: requests.toLocaleString('en-US') },
    {
      label: 'orchestrator CPU per request, response cache on (whole command: load, plan, generate, finalize)',
      value: `${fmt(cpuPerRequest, 3)} ms`,
      target: '<= 0.3 ms',
      met: cpuPerRequest <= 0.3,
    },
    {
      label: 'peak RSS of the orchestrator process',
      value: `${fmt(live.maxRssMb, 0)} MB`,
      target: '<= 256 MB',
      met: live.maxRssMb <= 256,
    },
    { label: 'wall time', value: `${fmt(live.wallMs / 1000, 1)} s` },
    ...curve.map(({ slots, run }) => ({
      label: `dry run of ${slotsLabel(slots)} slots: peak RSS / wall time per slot`,
      value: `${fmt(run.maxRssMb, 0)} MB / ${fmt((run.wallMs * 1000) / slots, 0)} us`,
      target: `<= ${DRY_RUN_RSS_MB} MB`,
      met: run.maxRssMb <= DRY_RUN_RSS_MB,
    })),
    {
      label: `dry run: peak RSS at ${slotsLabel(largest.slots)} slots / at ${slotsLabel(smallest.slots)}`,
      value: fmt(growth, 2),
      target: `<= ${DRY_RUN_GROWTH}`,
      met: growth <= DRY_RUN_GROWTH,
    },
  ];
  return {
    name: 'Scale and memory',
    settings: `${count.toLocaleString('en-US')} synthetic profiles x (2 SBK + 1 CM) through \`raiden generate\`, --concurrency 64, simulated server answering at once (in its own process), every answer stored in an empty response cache; memory curve: \`raiden generate --dry-run --include-cm\` of ${curve.map(({ slots }) => `${profilesFor(slots).toLocaleString('en-US')}`).join(', ')} synthetic profiles (${curve.map(({ slots }) => slotsLabel(slots)).join(', ')} slots; about 1,000 characters of profile text each, every prompt written to prompts.jsonl)`,
    figures,
    notes: ['Peak RSS is the process maximum (getrusage), Node.js and the TypeScript loader included (about 100 MB before any work).'],
  };
}
