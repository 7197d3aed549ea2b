import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { planSlots } from '../../orchestrator/src/core/profiles/plan.ts';
import { parseProfiles } from '../../orchestrator/src/core/profiles/profile-loader.ts';
import { buildMessages } from '../../orchestrator/src/core/prompts/prompts.ts';
import { runPipelineChild } from '../support/run-child.ts';
import { fmt, type BenchContext, type ScenarioResult } from '../support/scenario.ts';
import { startSimProcess } from '../support/sim-process.ts';
import { writeSyntheticProfiles } from '../support/synthetic-profiles.ts';

const PROFILES_CACHED = 32;
const BLOCK_CHARS = 64;

/** Mean prompt length and the instruction part every prompt of the language shares, from the real prompt builder. */
function promptShape(file: string) {
  const { profiles } = parseProfiles(readFileSync(file), file);
  const slots = planSlots(profiles, { samplesPerProfile: 2, cmPerProfile: 1, language: 'auto', seed: 42 });
  const byId = new Map(profiles.map((p) => [p.id, p]));
  let chars = 0;
  let instructions = 0;
  for (const slot of slots) {
    const messages = buildMessages(byId.get(slot.profileId)!, slot);
    chars += messages.map((m) => m.content).join('\n').length;
    instructions += Math.floor((messages[0]?.content.length ?? 0) / BLOCK_CHARS) * BLOCK_CHARS;
  }
  return { meanPromptChars: chars / slots.length, instructionShare: instructions / chars };
}

async function hitRatio(profiles: string, order: 'grouped' | 'random', cacheChars: number) {
  const sim = await startSimProcess({
    slots: 64,
    sigma: 0.5,
    'decode-ms-per-token': 0.1,
    'prefill-ms-per-char': 0.005,
    'cache-chars': cacheChars,
  });
  try {
    await runPipelineChild({ mode: 'engine', profiles, endpoint: sim.url, concurrency: 64, order, sbk: 2, cm: 1 });
    const engine = (await sim.stats()).engine;
    if (!engine) throw new Error('simulated server ran without its engine model');
    return { achieved: engine.cachedChars / engine.promptChars, ideal: engine.idealCachedChars / engine.promptChars };
  } finally {
    await sim.stop();
  }
}

/** Profile-grouped scheduling against random order, with a prefix cache that holds about 32 profiles' prompts. */
export async function prefixReuseScenario(context: BenchContext): Promise<ScenarioResult> {
  const count = context.quick ? 300 : 1_000;
  const profiles = writeSyntheticProfiles(join(context.workDir, `prefix-${count}.jsonl`), count);
  const shape = promptShape(profiles);
  const cacheChars = Math.round(shape.meanPromptChars * PROFILES_CACHED);
  const grouped = await hitRatio(profiles, 'grouped', cacheChars);
  const random = await hitRatio(profiles, 'random', cacheChars);
  const groupedFigure = grouped.achieved / grouped.ideal;
  // The profile block is what grouping is for: the instructions are shared by every prompt in any order.
  const profilePart = (hit: number) => (hit - shape.instructionShare) / (grouped.ideal - shape.instructionShare);
  return {
    name: 'Prefix reuse',
    settings: `${count.toLocaleString('en-US')} synthetic profiles x (2 SBK + 1 CM), 64 slots, --concurrency 64, radix cache of ${cacheChars.toLocaleString('en-US')} characters (${PROFILES_CACHED} profiles' prompts of ${Math.round(shape.meanPromptChars).toLocaleString('en-US')} characters on average; ${BLOCK_CHARS}-character blocks, LRU)`,
    figures: [
      { label: 'shareable share of prompt text (hit ratio of an unbounded cache)', value: fmt(grouped.ideal, 3) },
      { label: 'profile-grouped order: hit ratio', value: fmt(grouped.achieved, 3) },
      {
        label: 'profile-grouped order: hit ratio / shareable share',
        value: fmt(groupedFigure, 3),
        target: '>= 0.8',
        met: groupedFigure >= 0.8,
      },
      { label: 'random order: hit ratio / shareable share', value: fmt(random.achieved / random.ideal, 3) },
      {
        label: 'profile block alone (shareable beyond the instructions): grouped / random',
        value: `${fmt(profilePart(grouped.achieved), 3)} / ${fmt(profilePart(random.achieved), 3)}`,
      },
    ],
    notes: [
      `The instructions (${fmt(shape.instructionShare * 100, 0)}% of prompt text) are shared by every prompt in any order; what random order loses is the profile block, which profile-grouped order keeps in the cache.`,
    ],
  };
}
