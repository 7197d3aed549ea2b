/**
 * A deterministic stand-in for an LLM that writes RAIDEN-R1 samples: it reads the profile and the task from
 * the prompt (as a real model would) and answers with a grounded sample, or a broken one on request.
 */
export type OutputFlaw = 'ungrounded' | 'duplicate' | 'think' | 'malformed_content' | 'keyword_not_in_answer';

export interface ChatRequestBody {
  readonly model?: string;
  readonly messages?: { role: string; content: string }[];
  readonly response_format?: { type?: string; json_schema?: { name?: string; schema?: { required?: string[] } } };
}

const STOP = new Set(['the', 'and', 'with', 'that', 'this', 'from', 'have', 'they', 'their', 'your', 'very', 'into', 'about']);

function hashOf(text: string): number {
  let hash = 2166136261;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619);
  return hash >>> 0;
}

interface Task {
  readonly profileText: string;
  readonly fields: Map<string, string>;
  readonly kind: 'SBK' | 'CM';
  readonly index: number;
  readonly field: string | undefined;
  readonly zh: boolean;
  readonly name: string;
}

function readTask(prompt: string): Task {
  const profileText = /<character_profile>\n([\s\S]*?)\n<\/character_profile>/u.exec(prompt)?.[1] ?? '';
  const fields = new Map<string, string>();
  for (const line of profileText.split('\n')) {
    const at = line.indexOf(': ');
    if (at > 0) fields.set(line.slice(0, at), line.slice(at + 2));
  }
  const zh = prompt.includes('任务：');
  const kind = /\bCM\b/u.test(prompt.slice(prompt.lastIndexOf('</character_profile>'))) ? 'CM' : 'SBK';
  const index = Number(/(?:sample number|第) (\d+)/u.exec(prompt)?.[1] ?? '1') - 1;
  const field = /the profile field "([^"]+)"|设定中的「([^」]+)」/u.exec(prompt);
  const name = /for (.+)\.\n|为「(.+?)」写/u.exec(prompt);
  return { profileText, fields, kind, index, field: field?.[1] ?? field?.[2], zh, name: name?.[1] ?? name?.[2] ?? '' };
}

/** A short span of the field's text that is not a stop word or the character's name. */
function pickKeyword(value: string, task: Task, salt: number): string | undefined {
  const parts = task.zh
    ? value.split(/[，,。.、；;：:（）()\s“”"！!？?]+/u).map((part) => part.slice(0, 6))
    : value.split(/[^\p{L}\p{N}'-]+/u);
  const usable = parts.filter(
    (part) => part.length >= (task.zh ? 2 : 4) && !STOP.has(part.toLowerCase()) && part !== task.name && !task.name.includes(part),
  );
  if (usable.length === 0) return undefined;
  return usable[salt % usable.length];
}

export function fakeSample(body: ChatRequestBody, flaw?: OutputFlaw): string {
  const prompt = body.messages?.map((message) => message.content).join('\n') ?? '';
  const task = readTask(prompt);
  const salt = hashOf(`${task.name}/${task.kind}/${task.index}`);
  let sample: Record<string, unknown>;
  if (task.kind === 'SBK') {
    const value = (task.field !== undefined ? task.fields.get(task.field) : undefined) ?? [...task.fields.values()].join(' ');
    let keyword = pickKeyword(value, task, salt) ?? pickKeyword([...task.fields.values()].join(' '), task, salt) ?? 'unknown';
    if (flaw === 'ungrounded') keyword = task.zh ? '火星基地' : 'Neptune';
    const question =
      flaw === 'duplicate'
        ? task.zh
          ? '你能说说自己吗？'
          : 'Can you tell me about yourself?'
        : task.zh
          ? `关于你的${task.field ?? '经历'}，能具体说说吗？（第${task.index + 1}问）`
          : `Could you tell me about your ${task.field ?? 'past'}? (question ${task.index + 1})`;
    const answer =
      flaw === 'keyword_not_in_answer'
        ? task.zh
          ? '这个嘛，我不想多说。'
          : 'I would rather not say.'
        : task.zh
          ? `说起这个，${keyword}，这是我忘不了的。`
          : `Well, ${keyword} is something I will never forget.`;
    sample = {
      question,
      reasoning: task.zh
        ? `我被问到我的${task.field ?? '经历'}。我记得${keyword}。`
        : `I am asked about my ${task.field ?? 'past'}. I remember ${keyword}.`,
      answer,
      keywords: [keyword],
      question_type: 'what',
      difficulty: 'easy',
    };
  } else {
    const detail = `${task.zh ? '青柠' : 'Zephyr'}${salt % 1000}`;
    const spoken = flaw === 'ungrounded' ? (task.zh ? '无花果' : 'Quartz') : detail;
    sample = {
      conversation_history: [
        { role: 'user', content: task.zh ? `我家的猫叫${detail}，特别黏人。` : `My cat is called ${detail}, and she is very clingy.` },
        { role: 'assistant', content: task.zh ? '听起来它很可爱。' : 'She sounds lovely.' },
      ],
      question:
        flaw === 'duplicate'
          ? task.zh
            ? '你还记得吗？'
            : 'Do you remember?'
          : task.zh
            ? `我的猫叫什么名字来着？（第${task.index + 1}问）`
            : `What was my cat called again? (question ${task.index + 1})`,
      reasoning: task.zh ? `用户之前说过猫的名字，我记得。` : `The user told me the cat's name earlier; I remember it.`,
      answer: task.zh ? `你的猫叫${spoken}呀。` : `Your cat is called ${spoken}.`,
      keywords: [spoken],
      question_type: 'what',
      difficulty: 'medium',
    };
  }
  const json = JSON.stringify(sample);
  if (flaw === 'malformed_content') return json.slice(0, json.length / 2);
  if (flaw === 'think') return `<think>Let me recall the profile first. {"not": "this"}</think>\n${json}`;
  return json;
}

export function roughTokens(text: string): number {
  return Math.ceil(text.length / 3);
}
