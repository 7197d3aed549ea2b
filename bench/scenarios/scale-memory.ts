import { join } from 'node:path';
import { runPipelineChild } from '../support/run-child.ts';
import { fmt, type BenchContext, type ScenarioResult } from '../support/scenario.ts';
import { startSimProcess } from '../support/sim-process.ts';
import { writeSyntheticProfiles } from '../support/synthetic-profiles.ts';

/** 10,000 profiles x 3 samples through the real CLI against an instant server: orchestrator CPU per request and peak RSS. */
export async function scaleMemoryScenario(context: BenchContext, nodeFlags: string[] = []): Promise<ScenarioResult> {
  const count = context.quick ? 2_000 : 10_000;
  const profiles = writeSyntheticProfiles(join(context.workDir, `scale-${count}.jsonl`), count);
  const sim = await startSimProcess({});
  try {
    const child = await runPipelineChild(
      {
        mode: 'cli',
        args: [
          'generate',
          '--profiles',
          profiles,
          '--endpoint',
          sim.url,
          '--include-cm',
          '--concurrency',
          '64',
          '--out',
          join(context.workDir, `scale-run-${count}`),
        ],
      },
      nodeFlags,
    );
    const stats = await sim.stats();
    const cpuPerRequest = child.cpuMs / stats.chatRequests;
    return {
      name: 'Scale and memory',
      settings: `${count.toLocaleString('en-US')} synthetic profiles x (2 SBK + 1 CM) through \`raiden generate\`, --concurrency 64, simulated server answering at once (in its own process)`,
      figures: [
        { label: 'requests', value: stats.chatRequests.toLocaleString('en-US') },
        {
          label: 'orchestrator CPU per request (whole command: load, plan, generate, finalize)',
          value: `${fmt(cpuPerRequest, 3)} ms`,
          target: '<= 1 ms',
          met: cpuPerRequest <= 1,
        },
        {
          label: 'peak RSS of the orchestrator process',
          value: `${fmt(child.maxRssMb, 0)} MB`,
          target: '<= 256 MB',
          met: child.maxRssMb <= 256,
        },
        { label: 'wall time', value: `${fmt(child.wallMs / 1000, 1)} s` },
      ],
    };
  } finally {
    await sim.stop();
  }
}
