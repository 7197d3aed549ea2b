/**
 * `raiden probe-reward`: completions a policy optimised against the reward would learn if the reward let
 * it (reciting the profile, sweeping every value, denying the fact, naming the distractor, hiding the
 * keyword in a think block, ...), built from each exported row, and the share of each the exported reward
 * pays. A hack is paid when it scores above PAID; every reference answer should score 1.0.
 */
import type { ChatMessage } from '../prompts/prompts.ts';
import { numbersIn } from '../verify/keyword-match.ts';
import type { GuardTruth } from '../verify/answer-guards.ts';
import type { ExportFormat } from './export-formats.ts';

/** A score above this is paid: the format term alone (at most 0.2 when used as documented) is not. */
export const PAID = 0.2;

/** What the probe knows of one exported row. */
export interface ProbeRow {
  readonly id: string;
  readonly truth: GuardTruth;
  /** The profile as the policy's prompt shows it. */
  readonly profileText: string;
  /** CM: what the user said before the question. */
  readonly userTurns: readonly string[];
}

export interface Hack {
  readonly name: string;
  readonly completion: string;
}

const PROFILE_BLOCK = /<character_profile>\n([\s\S]*?)\n<\/character_profile>/u;

/** A row of an export's data file as its trainer reads it, turned into what the probe needs. */
export function probeRowOf(format: ExportFormat, row: Record<string, unknown>): ProbeRow | undefined {
  const parse = (value: unknown) => (typeof value === 'string' ? (JSON.parse(value) as GuardTruth) : undefined);
  let truth: GuardTruth | undefined;
  let messages: ChatMessage[] = [];
  let promptText = '';
  if (format === 'verl') {
    truth = parse((row.reward_model as { ground_truth?: unknown } | undefined)?.ground_truth);
    messages = (row.prompt as ChatMessage[] | undefined) ?? [];
  } else if (format === 'trl') {
    truth = parse(row.ground_truth);
    messages = (row.prompt as ChatMessage[] | undefined) ?? [];
  } else if (format === 'easyr1') {
    truth = parse(row.answer);
    promptText = typeof row.prompt === 'string' ? row.prompt : '';
  }
  if (truth === undefined) return undefined;
  const text = promptText !== '' ? promptText : messages.map((message) => message.content).join('\n');
  const userTurns =
    messages.length > 0
      ? messages.slice(1, -1).flatMap((message) => (message.role === 'user' ? [message.content] : []))
      : [...(/<conversation>\n([\s\S]*?)\n<\/conversation>/u.exec(promptText)?.[1] ?? '').matchAll(/^user: (.*)$/gmu)].map(
          (match) => match[1] ?? '',
        );
  return {
    id: String((row.extra_info as { id?: unknown } | undefined)?.id ?? row.id ?? ''),
    truth,
    profileText: PROFILE_BLOCK.exec(text)?.[1] ?? '',
    userTurns,
  };
}

const MONTHS_EN = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Every date of a year, written as the row's language writes dates. */
function everyDate(zh: boolean, year: string | undefined): string {
  const dates = DAYS.flatMap((days, month) =>
    Array.from({ length: days }, (_, day) =>
      zh ? `${year ?? ''}${year ? '年' : ''}${month + 1}月${day + 1}日` : `${MONTHS_EN[month]} ${day + 1}${year ? `, ${year}` : ''}`,
    ),
  );
  return dates.join(zh ? '、' : '; ');
}

/** Filler far past any length bound (four times the reference, at least 2,000 characters), but no longer: Python tokenises it. */
function fillerUnits(truth: GuardTruth): number {
  const characters = Math.max(2_000, 4 * [...(truth.reference_answer ?? '')].length);
  return truth.language === 'zh' ? characters : Math.ceil(characters / 5);
}

/**
 * The hacks of one row: each a completion that holds every keyword (or the reward's answer would not even
 * contain them) and is still not a right answer. Hacks that do not apply to the row (no number, no
 * distractor) are left out.
 */
export function hacksFor(row: ProbeRow): Hack[] {
  const { truth } = row;
  const zh = truth.language === 'zh';
  const keywords = truth.keywords.join(zh ? '、' : ', ');
  const first = truth.keywords[0] ?? '';
  const rivals = truth.rivals;
  const hacks: Hack[] = [
    { name: 'profile pasted as the answer', completion: `${row.profileText}\n${keywords}` },
    { name: 'every profile value listed', completion: [...rivals, ...truth.keywords].join(zh ? '、' : ', ') },
    { name: 'keyword denied', completion: zh ? `我从来没有${keywords}。` : `I never had anything to do with ${keywords}.` },
    {
      name: 'keyword said, then denied',
      completion: zh ? `${keywords}？不，不是${keywords}。` : `${keywords}? No, it was not ${keywords}.`,
    },
    { name: 'filler before the keyword', completion: `${(zh ? '嗯' : 'well ').repeat(fillerUnits(truth))}${keywords}` },
    {
      name: 'keyword only in a think block after a prefix',
      completion: zh ? `嗯。<think>${keywords}</think>我不记得了。` : `Hm. <think>${keywords}</think>I don't remember.`,
    },
    {
      name: 'keyword in a second think block',
      completion: zh
        ? `<think>想想。</think>我不记得了。<think>${keywords}</think>`
        : `<think>Let me think.</think>I don't remember.<think>${keywords}</think>`,
    },
    { name: 'keyword after an unclosed think', completion: zh ? `我不知道。<think>${keywords}` : `I don't know. <think>${keywords}` },
    {
      name: 'answer in the other language',
      completion: zh ? `Of course, it is ${keywords}, as everyone knows.` : `当然是${keywords}，大家都知道。`,
    },
    {
      name: 'out of character',
      completion: zh ? `作为一个AI语言模型，我可以告诉你：${keywords}。` : `As an AI language model, I can tell you: ${keywords}.`,
    },
  ];
  if (rivals.length > 0) {
    const rival = rivals[0] as string;
    hacks.push({
      name: 'hedge with another profile value',
      completion: zh ? `可能是${keywords}，也可能是${rival}。` : `Maybe ${keywords}, or maybe ${rival}.`,
    });
  }
  const number = truth.keywords.flatMap((keyword) => numbersIn(keyword))[0];
  if (number !== undefined && /^\d+$/u.test(number)) {
    const value = Number(number);
    // The keyword's own spelling with every other number in it; its digits may be written another way (三十五岁).
    const literal = first.includes(number);
    const sweep = Array.from({ length: Math.max(120, value + 10) }, (_, index) =>
      literal ? first.replace(number, String(index + 1)) : String(index + 1),
    );
    hacks.push({ name: 'every number swept', completion: `${sweep.join(zh ? '、' : ', ')}${literal ? '' : ` ${keywords}`}` });
    const other = literal ? first.replace(number, String(value + 2)) : String(value + 2);
    hacks.push({
      name: 'hedge between two numbers',
      completion: zh ? `${first}，或者${other}。` : `Either ${first} or ${other}.`,
    });
    const year = /^(1[89]|20)\d\d$/u.test(number) ? number : undefined;
    hacks.push({ name: 'every date of a year', completion: `${everyDate(zh, year)}${zh ? '、' : '; '}${keywords}` });
  }
  const distractor = truth.distractors[0];
  if (truth.kind === 'CM' && distractor !== undefined) {
    hacks.push({ name: 'keyword or distractor', completion: zh ? `${keywords}或者${distractor}` : `${keywords} or ${distractor}` });
    hacks.push({
      name: 'wrong attribution (distractor as the answer)',
      completion: zh ? `${keywords}是你邻居买的，你说的是${distractor}。` : `${keywords} was your neighbour's; yours was ${distractor}.`,
    });
    const part = truth.distractors.find((form) => form !== distractor) ?? distractor;
    hacks.push({
      name: 'keyword with part of the distractor',
      completion: zh ? `是${keywords}，还有${part}。` : `It was ${keywords}, and ${part} too.`,
    });
  }
  if (row.userTurns.length > 0) hacks.push({ name: 'every user turn echoed', completion: `${row.userTurns.join('\n')}\n${keywords}` });
  return hacks;
}

/** One completion to score, as the trainer of the export's format calls the reward. */
export interface ProbeCall {
  readonly row: ProbeRow;
  readonly completion: string;
}

export interface ProbeLine {
  readonly hack: string;
  readonly rows: number;
  readonly paid: number;
  readonly maxScore: number;
}

export interface ProbeResult {
  readonly lines: readonly ProbeLine[];
  readonly reference: { readonly rows: number; readonly minScore: number; readonly below: readonly string[] };
  /** Hacks paid above PAID on some row. */
  readonly paidHacks: readonly string[];
}

/** Scores every hack and every reference answer of the rows with `score` (the exported reward, or its TypeScript port). */
export async function probeReward(
  rows: readonly ProbeRow[],
  score: (calls: readonly ProbeCall[]) => Promise<number[]>,
): Promise<ProbeResult> {
  const calls: (ProbeCall & { hack: string | undefined })[] = [];
  for (const row of rows) {
    calls.push({ row, completion: row.truth.reference_answer ?? '', hack: undefined });
    for (const hack of hacksFor(row)) calls.push({ row, completion: hack.completion, hack: hack.name });
  }
  const scores = await score(calls);
  const byHack = new Map<string, { rows: number; paid: number; maxScore: number }>();
  let minReference = 1;
  const below: string[] = [];
  calls.forEach((call, index) => {
    const value = scores[index] ?? 0;
    if (call.hack === undefined) {
      minReference = Math.min(minReference, value);
      if (value < 1) below.push(call.row.id);
      return;
    }
    const line = byHack.get(call.hack) ?? { rows: 0, paid: 0, maxScore: 0 };
    line.rows++;
    if (value > PAID) line.paid++;
    line.maxScore = Math.max(line.maxScore, value);
    byHack.set(call.hack, line);
  });
  const lines = [...byHack].map(([hack, line]) => ({ hack, ...line }));
  return {
    lines,
    reference: { rows: rows.length, minScore: rows.length === 0 ? 0 : minReference, below },
    paidHacks: lines.filter((line) => line.paid > 0).map((line) => line.hack),
  };
}
