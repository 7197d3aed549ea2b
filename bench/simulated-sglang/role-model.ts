/**
 * A deterministic stand-in for an LLM that writes RAIDEN-R1 samples: it reads the profile and the task from
 * the prompt (as a real model would) and answers with a sample that follows the instructions the way a
 * careful model does (keywords are real words and names of the focused field, CM conversations alternate
 * roles and carry a distractor), or a broken one on request. It does not call the verifier: what it gets
 * wrong is what a real model gets wrong, and the verifier rejects it.
 */
import { CM_TOPIC_TEXT } from '../../orchestrator/src/core/prompts/prompts.ts';
import type { CmTopic } from '../../orchestrator/src/core/profiles/plan.ts';

export type OutputFlaw = 'ungrounded' | 'duplicate' | 'think' | 'malformed_content' | 'keyword_not_in_answer';

export interface ChatRequestBody {
  readonly model?: string;
  readonly messages?: { role: string; content: string }[];
  readonly response_format?: { type?: string; json_schema?: { name?: string; schema?: { required?: string[] } } };
}

/** Words a careful model would not pick as a keyword. */
const SKIP = new Set(
  'the and with that this from have they their your very into about after before over under while where when what which who whom whose his her him she its our for was were are has had not but also then than there here been being some many much more most such only just even ever each every other another same own once again kind good nice story thing things people life husband wife daughter mother father brother sister neighbour neighbor colleague friend teacher'.split(
    ' ',
  ),
);
const SKIP_ZH = new Set(
  '一个 自己 他们 她们 我们 这个 那个 时候 的时候 之后 以后 以前 非常 特别 已经 经常 因为 所以 但是 朋友 关系 人物 东西 事情 喜欢 生活 工作 故事 时间 什么 怎么 为什么 那样 这样 一样 地方 一直 觉得 知道 可以 没有 丈夫 妻子 老公 老婆 爱人 女儿 儿子 孩子 父亲 母亲 爸爸 妈妈 父母 哥哥 姐姐 弟弟 妹妹 兄弟 姐妹 邻居 同事 上司 老板 老师 学生 同学 师父 师傅 徒弟 爷爷 奶奶 外公 外婆 叔叔 阿姨 表哥 表姐 表弟 表妹 亲戚 伴侣 男朋友 女朋友 原名 本名 小名 外号 昵称 绰号 姓名 全名'.split(
    ' ',
  ),
);
const ALIAS_LABELS =
  /^(name|nickname|alias|aka|姓名|昵称|别称|别名|外号|绰号|江湖绰号|封号|法号|俗名|化名|英文名|外文名|中文名|本名|原名|小名)$/iu;
const NUMERALS = '0-9.〇零一二三四五六七八九十百千万亿两';

function hashOf(text: string): number {
  let hash = 2166136261;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619);
  return hash >>> 0;
}

type QuestionType = 'what' | 'who' | 'where' | 'when' | 'why' | 'how';

interface Task {
  readonly profileText: string;
  readonly fields: Map<string, string>;
  readonly kind: 'SBK' | 'CM';
  readonly index: number;
  readonly field: string | undefined;
  readonly topic: CmTopic;
  readonly questionType: QuestionType;
  readonly zh: boolean;
  readonly names: string[];
}

export function readTask(prompt: string): Task {
  const profileText = /<character_profile>\n([\s\S]*?)\n<\/character_profile>/u.exec(prompt)?.[1] ?? '';
  const fields = new Map<string, string>();
  for (const line of profileText.split('\n')) {
    const at = line.indexOf(': ');
    if (at > 0) fields.set(line.slice(0, at), line.slice(at + 2));
  }
  const task = prompt.slice(prompt.lastIndexOf('</character_profile>'));
  const zh = task.includes('任务：');
  const kind = /\bCM\b/u.test(task) ? 'CM' : 'SBK';
  const index = Number(/(?:sample number|第) (\d+)/u.exec(task)?.[1] ?? '1') - 1;
  const field = /the profile field "([^"]+)"|设定中的「([^」]+)」/u.exec(task);
  const name = /for (.+)\.\n|为「(.+?)」写/u.exec(task);
  const questionType = (/question_type (?:记为 )?"(\w+)"/u.exec(task)?.[1] ?? 'what') as QuestionType;
  const topicText = CM_TOPIC_TEXT[zh ? 'zh' : 'en'];
  const topic = ((Object.keys(topicText) as CmTopic[]).find((key) => task.includes(topicText[key])) ?? 'person') as CmTopic;
  const names = [name?.[1] ?? name?.[2] ?? ''];
  for (const [label, value] of fields)
    if (ALIAS_LABELS.test(label)) names.push(...value.split(/[、,，;；/（）()·]/u).map((alias) => alias.trim()));
  return {
    profileText,
    fields,
    kind,
    index,
    field: field?.[1] ?? field?.[2],
    topic,
    questionType,
    zh,
    names: names.filter((n) => n.length > 0),
  };
}

const segmenter = new Intl.Segmenter('zh', { granularity: 'word' });

/** Candidate keywords of a field value, best first: short list items, then dictionary words or names of the text. */
export function candidates(value: string, task: Task): string[] {
  const items = value
    .split(/[，,。.、；;：:！!？?（）()“”"「」《》\n]+|\s+and\s+|和/u)
    // A careful model copies the value, not the words that introduce it (原名葵羽玄女 gives 葵羽玄女).
    .map((item) =>
      item
        .trim()
        .replace(/^(?:a|an|the|his|her|their|my)\s+/iu, '')
        .replace(/^(?:原名|本名|又名|别名|名为|名叫|称为|叫做|人称|全名|简称|英文名)[为是:：]?/u, ''),
    )
    .filter((item) => item.length > 0);
  const isName = (text: string) =>
    task.names.some((name) => name.includes(text) || text.includes(name)) || [...task.fields.keys()].some((label) => label.includes(text));
  // A careful model copies a number whole: never 169 out of 169.5 or 十三 out of 二十三.
  const wholeNumbers = (text: string) =>
    !/[0-9〇零一二三四五六七八九十百千万亿两]/u.test(text) ||
    new RegExp(`(?<![${NUMERALS}])${text.replace(/[.*+?^${}()|[\]\\]/gu, '\\$&')}(?![${NUMERALS}])`, 'u').test(value);
  // A careful model copies whole words: a CJK candidate starts and ends where the text's words do.
  const boundaries = new Set([...segmenter.segment(value)].map((segment) => segment.index));
  boundaries.add(value.length);
  const whole = (word: string) => {
    for (let at = value.indexOf(word); at >= 0; at = value.indexOf(word, at + 1))
      if (boundaries.has(at) && boundaries.has(at + word.length)) return true;
    return false;
  };
  if (/\p{Script=Han}/u.test(value)) {
    // A clause (with a particle inside) is not a term.
    const short = items.filter(
      (item) => [...item].length >= 2 && [...item].length <= 6 && !SKIP_ZH.has(item) && !/[了着叫是的]/u.test(item),
    );
    const words = [...segmenter.segment(value)]
      .map((segment) => segment.segment)
      .filter((word) => word.length >= 2 && /^\p{Script=Han}+$/u.test(word) && !SKIP_ZH.has(word));
    return [...short, ...words].filter(
      (word) =>
        !isName(word) &&
        wholeNumbers(word) &&
        whole(word) &&
        !/^[的了在是与及很也我你您他她它咱其]|[的了在是吗呢吧啊呀很也及]$/u.test(word) &&
        // A word that introduces a value (称为, 原名) is no fact itself.
        !/称为|名为|叫做|原名|本名|又名|别名|名叫/u.test(word),
    );
  }
  const phrases = items.filter((item) => item.split(/\s+/u).length <= 3 && item.length >= 4);
  const words = value.split(/[^\p{L}\p{N}'-]+/u).filter((word) => word.length >= 4);
  return [...phrases, ...words].filter((word) => !SKIP.has(word.toLowerCase()) && !isName(word) && wholeNumbers(word));
}

const ZH_DIGITS = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];

/** 35 → 三十五: the other written form a careful model lists as an alternative. */
function chineseNumber(value: number): string | undefined {
  if (!Number.isInteger(value) || value < 1 || value > 99) return undefined;
  const tens = Math.floor(value / 10);
  const ones = value % 10;
  return `${tens > 1 ? ZH_DIGITS[tens] : ''}${tens > 0 ? '十' : ''}${ones > 0 ? ZH_DIGITS[ones] : ''}`;
}

const EN_QUESTIONS: Record<QuestionType, (about: string) => string> = {
  what: (about) => `What can you tell me about your ${about}?`,
  who: (about) => `Who comes to mind when you think of your ${about}?`,
  where: (about) => `Where is it, your ${about}?`,
  when: (about) => `When was it, your ${about}?`,
  why: (about) => `Why does your ${about} matter so much to you?`,
  how: (about) => `How would you sum up your ${about}?`,
};
const ZH_QUESTIONS: Record<QuestionType, (about: string) => string> = {
  what: (about) => `说说你的${about}是什么样的？`,
  who: (about) => `说到你的${about}，你会想到谁？`,
  where: (about) => `你的${about}在哪里？`,
  when: (about) => `你的${about}是什么时候？`,
  why: (about) => `为什么你的${about}对你这么重要？`,
  how: (about) => `你会怎样形容你的${about}？`,
};
/** Openings that make a second question about the same topic read differently. */
const EN_OPENINGS = ['', 'One more thing. ', 'I am curious. ', 'Tell me honestly. '];
const ZH_OPENINGS = ['', '还有，', '我很好奇，', '说实话，'];

function sbkSample(task: Task, salt: number, flaw: OutputFlaw | undefined): Record<string, unknown> {
  const value = (task.field !== undefined ? task.fields.get(task.field) : undefined) ?? [...task.fields.values()].join(' ');
  const about = task.field ?? (task.zh ? '经历' : 'past');
  // A careful model asks about the focused field's own facts, and looks elsewhere only when it has none.
  const found = candidates(value, task).filter((option) => !about.includes(option));
  // A short value (36, 1992年7月13日) is a fact as it stands.
  const focused = found.length === 0 && task.field !== undefined && [...value].length <= 12 ? [value.trim()] : found;
  const options =
    focused.length > 0 ? focused : candidates([...task.fields.values()].join('\n'), task).filter((option) => !about.includes(option));
  let keyword = options[salt % Math.max(1, Math.min(options.length, 3))] ?? (task.zh ? '回忆' : 'memory');
  if (flaw === 'ungrounded') keyword = task.zh ? '火星基地' : 'Neptune';
  const opening = (task.zh ? ZH_OPENINGS : EN_OPENINGS)[task.index % EN_OPENINGS.length];
  const question =
    flaw === 'duplicate'
      ? task.zh
        ? '你能说说自己吗？'
        : 'Can you tell me about yourself?'
      : task.zh
        ? `${opening}${ZH_QUESTIONS[task.questionType](about)}`
        : `${opening}${EN_QUESTIONS[task.questionType](about)}`;
  const number = /^\d+$/u.test(keyword) ? chineseNumber(Number(keyword)) : undefined;
  const answer =
    flaw === 'keyword_not_in_answer'
      ? task.zh
        ? '这个嘛，我不想多说。'
        : 'I would rather not say.'
      : task.zh
        ? `说起这个，${keyword}，这是我忘不了的。`
        : `Well, ${keyword} is something I will never forget.`;
  return {
    question_type: task.questionType,
    question,
    keywords: [keyword],
    keyword_alternatives: [task.zh && number !== undefined ? [number] : []],
    reasoning: task.zh ? `我被问到我的${about}。我记得${keyword}。` : `I am asked about my ${about}. I remember ${keyword}.`,
    answer,
    difficulty: 'easy',
  };
}

/** Two details of the topic's kind: the one asked about and the distractor. */
const DETAILS: Record<CmTopic, { en: readonly string[]; zh: readonly string[] }> = {
  person: { en: ['Iris Calloway', 'Tomas Brennick', 'Odile Marchetti', 'Rafe Lindqvist'], zh: ['沈念秋', '顾清禾', '陆远舟', '苏映雪'] },
  place: { en: ['Harrowgate Pier', 'Saltmarsh Abbey', 'Wrenfield Market', 'Ostley Falls'], zh: ['青石镇', '望江楼', '白鹭洲', '云栖竹径'] },
  date: { en: ['March 14', 'October 2', 'June 27', 'December 9'], zh: ['三月十四日', '十月二日', '六月二十七日', '腊月初九'] },
  number: { en: ['1207', '46', '389', '72'], zh: ['1207', '46', '389', '72'] },
  object: {
    en: ['brass compass', 'silver thimble', 'jade bracelet', 'walnut music box'],
    zh: ['铜罗盘', '银顶针', '翡翠手镯', '胡桃木八音盒'],
  },
  pet: { en: ['Biscuit', 'Marlowe', 'Pepperjack', 'Juniper'], zh: ['青柠', '豆包', '糯米团', '小满'] },
  food: { en: ['saffron risotto', 'lemon tart', 'miso ramen', 'fig pudding'], zh: ['松鼠鳜鱼', '桂花糕', '酸菜鱼', '蟹粉小笼'] },
  reason: { en: ['sister Maren', 'cousin Dario', 'aunt Philippa', 'friend Oskar'], zh: ['表妹林溪', '舅舅周岩', '姑姑许蔓', '师兄陈砚'] },
};

const CM_EN: Record<CmTopic, (detail: string) => [string, string]> = {
  person: (d) => [`I had coffee with my old friend ${d} today.`, 'An old friend, how nice!'],
  place: (d) => [`Last weekend I walked all the way to ${d}.`, 'That sounds like a lovely walk.'],
  date: (d) => [`My exam is on ${d}, I am so nervous.`, 'You will do well, I am sure.'],
  number: (d) => [`The hotel gave me room ${d}, right under the roof.`, 'Under the roof? I hope it is quiet.'],
  object: (d) => [`I finally bought a ${d} at the flea market.`, 'What a find!'],
  pet: (d) => [`My cat ${d} knocked over my tea again.`, 'Cats will be cats.'],
  food: (d) => [`Last night I ordered ${d} and it was wonderful.`, 'Now I am hungry.'],
  reason: (d) => [`I am saving money because my ${d} is getting married.`, 'That is a kind reason.'],
};
const CM_ZH: Record<CmTopic, (detail: string) => [string, string]> = {
  person: (d) => [`今天我和老朋友${d}一起喝了咖啡。`, '老朋友重聚，真好。'],
  place: (d) => [`上周末我一路走到了${d}。`, '听起来是很美的一段路。'],
  date: (d) => [`我的考试在${d}，好紧张。`, '你一定没问题的。'],
  number: (d) => [`酒店给了我${d}号房，就在顶楼。`, '顶楼啊，希望安静些。'],
  object: (d) => [`我终于在旧货市场买到了一只${d}。`, '真是淘到宝了！'],
  pet: (d) => [`我家的猫${d}又把我的茶打翻了。`, '猫就是这样调皮。'],
  food: (d) => [`昨晚我点了${d}，太好吃了。`, '说得我都饿了。'],
  reason: (d) => [`我在攒钱，因为${d}要结婚了。`, '这个理由真暖心。'],
};
const CM_QUESTIONS: Record<CmTopic, { en: string; zh: string }> = {
  person: { en: 'Who did I say I had coffee with today?', zh: '我今天说和谁一起喝了咖啡？' },
  place: { en: 'Where did I say I walked to last weekend?', zh: '我说上周末走到了哪里？' },
  date: { en: 'When did I say my exam is?', zh: '我说我的考试是什么时候？' },
  number: { en: 'How high up was my hotel room, what number did I say?', zh: '我说酒店给了我几号房？' },
  object: { en: 'What did I say I bought at the flea market?', zh: '我说在旧货市场买到了什么？' },
  pet: { en: 'What is the name of the cat that knocked over my tea?', zh: '打翻我茶的那只猫叫什么？' },
  food: { en: 'What did I order last night?', zh: '我昨晚点了什么？' },
  reason: { en: 'Why did I say I am saving money?', zh: '我说我为什么在攒钱？' },
};

function cmSample(task: Task, salt: number, flaw: OutputFlaw | undefined): Record<string, unknown> {
  // A careful model tells a detail the profile does not already hold: recalling that would test no memory.
  const profile = task.profileText.toLowerCase();
  const all = DETAILS[task.topic][task.zh ? 'zh' : 'en'];
  const fresh = all.filter((candidate) => !profile.includes(candidate.toLowerCase()));
  const pool = fresh.length >= 2 ? fresh : all;
  const detail = pool[salt % pool.length] as string;
  const distractor = pool[(salt + 1) % pool.length] as string;
  const spoken = flaw === 'ungrounded' ? (task.zh ? '无花果' : 'Quartz') : detail;
  const lines = task.zh ? CM_ZH : CM_EN;
  const [tell, reply] = lines[task.topic](detail);
  const [tellOther, replyOther] = lines[task.topic](distractor);
  const other = task.zh ? `对了，我表哥也提过：${tellOther}` : `Oh, and my cousin told me: "${tellOther}"`;
  const question = CM_QUESTIONS[task.topic][task.zh ? 'zh' : 'en'];
  return {
    conversation_history: [
      { role: 'user', content: tell },
      { role: 'assistant', content: reply },
      { role: 'user', content: other },
      { role: 'assistant', content: replyOther },
    ],
    distractor,
    question_type: task.questionType,
    question: flaw === 'duplicate' ? (task.zh ? '你还记得吗？' : 'Do you remember?') : question,
    keywords: [spoken],
    keyword_alternatives: [[]],
    reasoning: task.zh
      ? '用户先说了一个细节，后来又提到表哥的另一件事，我要分清楚。'
      : 'The user told me one detail first and a cousin’s story later; I keep them apart.',
    answer: task.zh ? `你说的是${spoken}呀。` : `You told me it was ${spoken}.`,
    difficulty: 'medium',
  };
}

export function fakeSample(body: ChatRequestBody, flaw?: OutputFlaw): string {
  const prompt = body.messages?.map((message) => message.content).join('\n') ?? '';
  const task = readTask(prompt);
  const salt = hashOf(`${task.names[0] ?? ''}/${task.kind}/${task.index}`);
  const sample = task.kind === 'SBK' ? sbkSample(task, salt, flaw) : cmSample(task, salt, flaw);
  const json = JSON.stringify(sample);
  if (flaw === 'malformed_content') return json.slice(0, json.length / 2);
  if (flaw === 'think') return `<think>Let me recall the profile first. {"not": "this"}</think>\n${json}`;
  return json;
}

export function roughTokens(text: string): number {
  return Math.ceil(text.length / 3);
}
