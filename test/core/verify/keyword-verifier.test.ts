import { describe, expect, it } from 'vitest';
import { verifySample, type VerificationContext } from '../../../orchestrator/src/core/verify/keyword-verifier.ts';
import { parseModelJson, stripThinking } from '../../../orchestrator/src/core/verify/model-output.ts';
import { questionFingerprint } from '../../../orchestrator/src/core/verify/text-normalize.ts';

const profileText = '姓名: 陈金默\n爱好: 吃棒棒糖\n其他: 有一女（黄瑶）\nhobby: Sea Charts';
const sbk: VerificationContext = {
  kind: 'SBK',
  profileText,
  names: ['老默', '陈金默'],
  fieldLabels: ['姓名', '爱好', '其他', 'hobby'],
  questionType: 'who',
  acceptedQuestions: new Set(),
};
const good = {
  question_type: 'who',
  question: '你女儿叫什么名字？',
  keywords: ['黄瑶'],
  keyword_alternatives: [[]],
  reasoning: '我想起了女儿。',
  answer: '我女儿叫黄瑶。',
  difficulty: 'easy',
};

function reasonOf(value: unknown, context: VerificationContext = sbk): string {
  const verdict = verifySample(value, context);
  return verdict.ok ? 'ok' : verdict.reason;
}

describe('keyword verification', () => {
  it('accepts a grounded SBK sample', () => {
    expect(reasonOf(good)).toBe('ok');
  });

  it('matches after NFKC, case folding and whitespace normalisation', () => {
    expect(
      reasonOf(
        {
          ...good,
          question_type: 'what',
          question: 'What do you study?',
          answer: 'I read SEA   charts every night.',
          keywords: ['ｓｅａ charts'],
        },
        { ...sbk, questionType: undefined, language: 'en' },
      ),
    ).toBe('ok');
  });

  it.each([
    ['keyword_not_in_answer', { ...good, answer: '她很好。' }],
    ['keyword_not_in_profile', { ...good, answer: '我女儿叫黄小瑶。', keywords: ['黄小瑶'] }],
    ['keyword_stop_word', { ...good, answer: '是我。', keywords: ['我'] }],
    ['keyword_stop_word', { ...good, answer: 'It was the sea.', keywords: ['the'] }],
    ['keyword_is_name', { ...good, answer: '我是陈金默。', keywords: ['陈金默'] }],
    ['keyword_too_long', { ...good, answer: `黄瑶${'棒'.repeat(50)}`, keywords: [`黄瑶${'棒'.repeat(50)}`], keyword_alternatives: [[]] }],
    ['keyword_in_question', { ...good, question: '黄瑶是你女儿吗？' }],
    ['question_type_mismatch', { ...good, question_type: 'what' }],
    ['schema_mismatch', { ...good, keyword_alternatives: [[], []] }],
    ['empty_field', { ...good, reasoning: '  ' }],
    ['too_long', { ...good, answer: `黄瑶${'啊'.repeat(2000)}` }],
    ['schema_mismatch', { ...good, keywords: [] }],
    ['schema_mismatch', { ...good, keywords: ['a', 'b', 'c', 'd'] }],
    ['schema_mismatch', { ...good, question_type: 'which' }],
    ['schema_mismatch', ['not an object']],
  ])('rejects %s', (reason, value) => {
    expect(reasonOf(value)).toBe(reason);
  });

  it('rejects a question that duplicates an accepted one after normalisation', () => {
    const accepted = new Set([questionFingerprint('你女儿 叫什么名字?')]);
    expect(reasonOf(good, { ...sbk, acceptedQuestions: accepted })).toBe('duplicate_question');
  });

  it('grounds CM keywords in earlier user turns, not in the profile', () => {
    const cm: VerificationContext = { ...sbk, kind: 'CM', questionType: 'what' };
    const history = [
      { role: 'user', content: '我的猫叫豆豆。' },
      { role: 'assistant', content: '好可爱的名字。' },
      { role: 'user', content: '我邻居的猫叫花卷。' },
      { role: 'assistant', content: '也很可爱。' },
    ];
    const sample = {
      ...good,
      question_type: 'what',
      conversation_history: history,
      distractor: '花卷',
      question: '我的猫叫什么？',
      answer: '你的猫叫豆豆。',
      keywords: ['豆豆'],
    };
    expect(reasonOf(sample, cm)).toBe('ok');
    expect(reasonOf({ ...sample, answer: '你女儿叫黄瑶。', keywords: ['黄瑶'] }, cm)).toBe('keyword_not_in_conversation');
    expect(reasonOf({ ...sample, conversation_history: history.slice(0, 2) }, cm)).toBe('conversation_too_short');
    expect(reasonOf({ ...sample, conversation_history: [{ role: 'user', content: '  ' }, ...history.slice(1)] }, cm)).toBe(
      'conversation_empty_turn',
    );
    expect(reasonOf({ ...sample, conversation_history: [{ role: 'system', content: 'x' }, ...history] }, cm)).toBe('schema_mismatch');
  });

  it('keeps the alternatives with their keywords, one list per keyword, and fills them when a model leaves them out', () => {
    const verdict = verifySample({ ...good, keyword_alternatives: undefined }, sbk);
    expect(verdict.ok && verdict.content.keyword_alternatives).toEqual([[]]);
  });
});

describe('model output parsing', () => {
  it('strips <think> blocks a reasoning model emits before the JSON', () => {
    expect(stripThinking('<think>hmm {"a":1}</think>\n{"b":2}')).toBe('{"b":2}');
    expect(parseModelJson('<think>\nplan\n</think>{"b":2}')).toEqual({ ok: true, value: { b: 2 } });
  });

  it('accepts a fenced JSON block and text around an object', () => {
    expect(parseModelJson('```json\n{"b":2}\n```')).toEqual({ ok: true, value: { b: 2 } });
    expect(parseModelJson('Here it is: {"b":2} done')).toEqual({ ok: true, value: { b: 2 } });
  });

  it('reports truncated JSON as an error', () => {
    const parsed = parseModelJson('{"question": "x", "answ');
    expect(parsed.ok).toBe(false);
  });
});
