/**
 * Accept rate per reject reason: the real `raiden generate` on real profiles (the examples in every
 * format and the 78 CharacterEval profiles) against the simulated SGLang server, once with honest answers
 * and once with 10% flawed ones. Shares are of model answers (attempts), so they add up to 1 with the
 * accepted share.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../orchestrator/src/cli/main.ts';
import type { RunReport } from '../../orchestrator/src/core/report/run-report.ts';
import { mixedFaults, startTestServer } from '../simulated-sglang/server.ts';
import type { Sample } from '../../orchestrator/src/core/verify/sample.ts';
import { fmt, type BenchContext, type Figure, type ScenarioResult } from '../support/scenario.ts';
import { sampleProblems } from './sample-checks.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

/** Real profiles in every input format the project reads. */
export const ACCEPT_RATE_PROFILES = [
  'examples/profiles.zh.json',
  'examples/profiles.en.jsonl',
  'examples/npc.json',
  'examples/raiden-r1.jsonl',
  'test/fixtures/charactereval_profiles.json',
] as const;

export interface AcceptRateRun {
  readonly label: string;
  readonly slots: number;
  readonly attempts: number;
  readonly accepted: number;
  readonly emptySlots: number;
  readonly rejectsByReason: Record<string, number>;
  /** Accepted samples that break a rule under the independent checks of sample-checks.ts, per broken rule. */
  readonly acceptedButWrong: number;
  readonly acceptedProblems: Record<string, number>;
  /** Run directories, for checks of the accepted samples. */
  readonly runDirs: string[];
}

/** Re-checks the accepted samples of run directories with the independent checks. */
export function checkAccepted(runDirs: readonly string[]): { checked: number; wrong: number; problems: Record<string, number> } {
  const problems: Record<string, number> = {};
  let checked = 0;
  let wrong = 0;
  for (const dir of runDirs) {
    for (const line of readFileSync(join(dir, 'samples.jsonl'), 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      const found = sampleProblems(JSON.parse(line) as Sample);
      checked++;
      if (found.length > 0) wrong++;
      for (const problem of found) problems[problem] = (problems[problem] ?? 0) + 1;
    }
  }
  return { checked, wrong, problems };
}

const quiet = { isTTY: false, write: () => true };

/**
 * The accept-rate run of one profile file: the real `raiden generate` with 3 SBK and 1 CM sample per
 * profile against `endpoint`, quietly, into `out`; `flags` adds to it. Returns the exit status. Without the
 * response cache: a run answered from an earlier one's cache (or the user's) would measure nothing.
 */
export function generateAcceptRateRun(
  file: (typeof ACCEPT_RATE_PROFILES)[number],
  endpoint: string,
  out: string,
  flags: readonly string[] = [],
) {
  const args = ['--profiles', join(ROOT, file), '--endpoint', endpoint, '--samples-per-profile', '3', '--cm-per-profile', '1'];
  return main(['generate', ...args, ...flags, '--no-cache', '--out', out], { stdout: quiet, stderr: quiet });
}

async function acceptRateRun(context: BenchContext, label: string, invalidRate: number): Promise<AcceptRateRun> {
  const server = await startTestServer({
    model: 'simulated-sglang',
    ...(invalidRate > 0 ? { fault: mixedFaults(0, invalidRate, 5) } : {}),
  });
  const totals: AcceptRateRun = {
    label,
    slots: 0,
    attempts: 0,
    accepted: 0,
    emptySlots: 0,
    rejectsByReason: {},
    acceptedButWrong: 0,
    acceptedProblems: {},
    runDirs: [],
  };
  let attempts = 0;
  let slots = 0;
  let accepted = 0;
  let emptySlots = 0;
  try {
    for (const file of ACCEPT_RATE_PROFILES) {
      const out = join(context.workDir, `accept-rate-${label}-${file.replace(/[/.]/gu, '_')}`);
      await generateAcceptRateRun(file, server.url, out, ['--max-attempts', '3', '--concurrency', '16']);
      const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as RunReport;
      totals.runDirs.push(out);
      slots += report.plan.slots;
      accepted += report.samples.accepted_this_invocation;
      emptySlots += report.samples.empty_slots;
      attempts += report.samples.accepted_this_invocation + report.rejects.this_invocation;
      for (const [reason, count] of Object.entries(report.rejects.this_invocation_by_reason))
        totals.rejectsByReason[reason] = (totals.rejectsByReason[reason] ?? 0) + count;
    }
  } finally {
    await server.close();
  }
  const recheck = checkAccepted(totals.runDirs);
  return { ...totals, slots, attempts, accepted, emptySlots, acceptedButWrong: recheck.wrong, acceptedProblems: recheck.problems };
}

/** Both runs: honest answers, then 10% flawed answers (ungrounded keyword, truncated JSON, keyword missing). */
export async function acceptRateRuns(context: BenchContext): Promise<AcceptRateRun[]> {
  return [await acceptRateRun(context, 'honest', 0), await acceptRateRun(context, 'flawed-10pct', 0.1)];
}

/**
 * Reject reasons the answer guards and question rules of issue 18 brought: what they cost on the simulated
 * model's answers. That model was taught the same rules (it asks about the focused field, skips relation words),
 * so these rows show the rules leave a careful model's answers alone, not what they cost a real model; the
 * answer corpus test (test/core/verify/answer-corpus.test.ts) holds the real evidence.
 * Reasons they widened (question_type_mismatch by the question's interrogatives, keyword_in_question by value,
 * keyword_alternative_implausible, keyword_fragment and keyword_field_label by pronoun and label words,
 * distractor_in_answer by parts) also count rejects of the older rules, so they are listed apart.
 */
const GUARD_REASONS = [
  'answer_negated',
  'answer_hedges',
  'answer_recites',
  'answer_language',
  'answer_out_of_character',
  'keyword_not_in_focus_field',
  'distractor_before_detail',
  'detail_restated',
] as const;
const WIDENED_REASONS = [
  'question_type_mismatch',
  'keyword_in_question',
  'keyword_alternative_implausible',
  'keyword_fragment',
  'keyword_field_label',
  'distractor_in_answer',
] as const;

function perThousand(run: AcceptRateRun, reasons: readonly string[]): string {
  const count = reasons.reduce((sum, reason) => sum + (run.rejectsByReason[reason] ?? 0), 0);
  return `${fmt(run.attempts > 0 ? (1000 * count) / run.attempts : 0, 1)} (${count} of ${run.attempts})`;
}

export function acceptRateFigures(run: AcceptRateRun): Figure[] {
  const share = (count: number) => fmt(run.attempts > 0 ? count / run.attempts : 0, 3);
  return [
    {
      label: `${run.label}: rejects per 1,000 simulated answers by the answer guards and rules new in issue 18`,
      value: perThousand(run, GUARD_REASONS),
    },
    {
      label: `${run.label}: rejects per 1,000 answers by the rules issue 18 widened (with the older rejects of those reasons)`,
      value: perThousand(run, WIDENED_REASONS),
    },
    {
      label: `${run.label}: slots filled / planned (empty slots)`,
      value: `${run.slots - run.emptySlots} / ${run.slots} (${run.emptySlots})`,
    },
    {
      label: `${run.label}: accepted share of answers (accepted / answers)`,
      value: `${share(run.accepted)} (${run.accepted} / ${run.attempts})`,
    },
    ...Object.entries(run.rejectsByReason)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([reason, count]) => ({ label: `${run.label}: rejected as ${reason}`, value: `${share(count)} (${count})` })),
    {
      label: `${run.label}: accepted samples that break a rule under the independent re-check`,
      value: `${run.acceptedButWrong} / ${run.accepted}`,
      target: '0',
      met: run.acceptedButWrong === 0,
    },
  ];
}

/** The runs measured on the code before issue 10 (substring matching, 2-turn CM), kept for comparison. */
export const ACCEPT_RATE_BEFORE = JSON.parse(readFileSync(new URL('./accept-rate-before.json', import.meta.url), 'utf8')) as {
  commit: string;
  measured_at: string;
  runs: Omit<AcceptRateRun, 'runDirs'>[];
};

/** BENCHMARKS.md's section: accept rate per reject reason before and after, per run. */
export function acceptRateSection(runs: readonly AcceptRateRun[]): string {
  const lines = [
    '## Accept rate per reject reason (keyword rules of issue 10)',
    '',
    `Written by \`npm run bench\` from \`bench/scenarios/accept-rate.ts\`: the real \`raiden generate\` on ${ACCEPT_RATE_PROFILES.map((file) => `\`${file}\``).join(', ')} (88 profiles in every input format, 3 SBK + 1 CM each, --max-attempts 3) against the simulated SGLang server, answering honestly and then with 10% flawed answers (ungrounded keyword, truncated JSON, keyword missing from the answer). Shares are of model answers. "Before" was measured on commit ${ACCEPT_RATE_BEFORE.commit} (substring matching after NFKC and lower case, 2-turn CM, the simulated model of that commit) and is kept in \`bench/scenarios/accept-rate-before.json\`. The last rows re-check every accepted sample with the independent checks of \`bench/scenarios/sample-checks.ts\`: what a run let through that a GRPO trainer should not trust.`,
    '',
  ];
  for (const after of runs) {
    const before = ACCEPT_RATE_BEFORE.runs.find((run) => run.label === after.label);
    if (before === undefined) continue;
    const share = (run: { attempts: number }, count: number) => (run.attempts > 0 ? fmt(count / run.attempts, 3) : '-');
    const reasons = [...new Set([...Object.keys(before.rejectsByReason), ...Object.keys(after.rejectsByReason)])].sort();
    const problems = [...new Set([...Object.keys(before.acceptedProblems), ...Object.keys(after.acceptedProblems)])].sort();
    lines.push(
      `### ${after.label === 'honest' ? 'Honest answers' : '10% flawed answers'}`,
      '',
      '| | before | after |',
      '|---|---:|---:|',
      `| answers (model calls) for ${after.slots} slots | ${before.attempts} | ${after.attempts} |`,
      `| accepted share of answers | ${share(before, before.accepted)} | ${share(after, after.accepted)} |`,
      ...reasons.map(
        (reason) =>
          `| rejected as \`${reason}\` | ${share(before, before.rejectsByReason[reason] ?? 0)} (${before.rejectsByReason[reason] ?? 0}) | ${share(after, after.rejectsByReason[reason] ?? 0)} (${after.rejectsByReason[reason] ?? 0}) |`,
      ),
      `| slots left empty | ${before.emptySlots} | ${after.emptySlots} |`,
      `| **accepted samples that break a rule** (independent re-check) | **${before.acceptedButWrong} / ${before.accepted}** | **${after.acceptedButWrong} / ${after.accepted}** |`,
      ...problems.map(
        (problem) => `| &nbsp;&nbsp;${problem} | ${before.acceptedProblems[problem] ?? 0} | ${after.acceptedProblems[problem] ?? 0} |`,
      ),
      '',
    );
  }
  return lines.join('\n');
}

export function acceptRateScenario(runs: readonly AcceptRateRun[]): ScenarioResult {
  return {
    name: 'Accept rate',
    settings: `raiden generate on ${ACCEPT_RATE_PROFILES.join(', ')}: 3 SBK + 1 CM per profile, --max-attempts 3, simulated SGLang server answering honestly, then with 10% flawed answers; shares are of model answers`,
    figures: runs.flatMap(acceptRateFigures),
  };
}
