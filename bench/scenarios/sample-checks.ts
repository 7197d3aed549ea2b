/**
 * Simple checks of an accepted sample, written apart from the verifier (plain regular expressions on the
 * stored sample, no shared code), so a run's output can be re-checked independently: the accept-rate
 * benchmark counts what each run let through, and an end-to-end test re-checks every accepted sample.
 */
import type { Sample } from '../../orchestrator/src/core/verify/sample.ts';

const plain = (text: string) =>
  text
    .normalize('NFKC')
    .replace(/[\u200b-\u200f\u2060\ufeff\u00ad]/gu, '')
    .toLowerCase();
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/gu, '\\$&');

/** The form occurs in the text as written, not inside a longer number or a longer Latin word. */
function occurs(text: string, form: string): boolean {
  const f = plain(form).trim();
  if (f.length === 0) return false;
  const before = /^[0-9]/u.test(f) ? '(?<![0-9.])' : /^[a-z]/u.test(f) ? '(?<![a-z])' : '';
  const after = /[0-9]$/u.test(f) ? '(?![0-9]|\\.[0-9])' : /[a-z]$/u.test(f) ? "(?:'?s)?(?![a-z])" : '';
  return new RegExp(`${before}${escape(f)}${after}`, 'u').test(plain(text));
}

/** Why a stored sample breaks the rules, one short label per broken rule; empty when it holds. */
export function sampleProblems(sample: Sample): string[] {
  const problems: string[] = [];
  const keywords = sample.keywords;
  const alternatives = sample.keyword_alternatives ?? keywords.map(() => []);
  const formsOf = (index: number) => [keywords[index] ?? '', ...(alternatives[index] ?? [])];
  const profileText = Object.entries(sample.character_profile)
    .map(([key, value]) => `${key}: ${value}`)
    .join('\n');
  const names = [sample.character_name, sample.character_profile['姓名'] ?? '', sample.character_profile.name ?? ''].filter(Boolean);
  if (keywords.length < 1 || keywords.length > 3) problems.push('keyword count');
  if (new Set(keywords.map((k) => plain(k).trim())).size !== keywords.length) problems.push('repeated keyword');
  if (sample.validation_method !== (keywords.length > 1 ? 'multi_term_parsing' : 'single_term_validation'))
    problems.push('validation method');
  const asked = /\|(\w+)$/u.exec(String(sample.metadata.focus))?.[1];
  if (asked !== undefined && asked !== sample.question_type) problems.push('question type not the one asked');
  keywords.forEach((keyword, index) => {
    const k = plain(keyword).trim();
    if (!formsOf(index).some((form) => occurs(sample.answer, form))) problems.push('keyword not in answer');
    if (formsOf(index).some((form) => occurs(sample.question, form))) problems.push('keyword in question');
    const cjk = (k.match(/\p{Script=Han}/gu) ?? []).length;
    const letters = (k.match(/\p{L}/gu) ?? []).length;
    if (!/[0-9]/u.test(k) && (cjk > 0 ? letters < 2 : letters < 3)) problems.push('keyword too short');
    if (names.some((name) => plain(name).includes(k))) problems.push('keyword is the name or part of it');
    if (Object.keys(sample.character_profile).some((label) => plain(label) === k)) problems.push('keyword is a field label');
    if (sample.metadata.kind === 'SBK' && !occurs(profileText, keyword)) problems.push('SBK keyword not in profile');
  });
  if (sample.metadata.kind === 'CM') {
    const turns = sample.conversation_history;
    if (turns.length < 4) problems.push('CM conversation under 4 turns');
    if (turns.some((turn, index) => turn.role !== (index % 2 === 0 ? 'user' : 'assistant')) || turns.at(-1)?.role !== 'assistant')
      problems.push('CM roles do not alternate from the user to the assistant');
    keywords.forEach((keyword) => {
      const first = turns.findIndex((turn) => turn.role === 'user' && occurs(turn.content, keyword));
      if (first < 0) problems.push('CM keyword not said by the user');
      else if (first > turns.length - 4) problems.push('CM detail right before the question');
      if (occurs(profileText, keyword)) problems.push('CM keyword in the profile');
    });
    const distractor = typeof sample.metadata.distractor === 'string' ? sample.metadata.distractor : '';
    if (distractor === '') problems.push('CM without distractor');
    else {
      if (!turns.some((turn) => turn.role === 'user' && occurs(turn.content, distractor)))
        problems.push('CM distractor not said by the user');
      if (occurs(sample.answer, distractor)) problems.push('CM answer names the distractor');
    }
  }
  return [...new Set(problems)];
}
