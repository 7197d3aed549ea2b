/**
 * An in-process LlmBackend for tests of the run pipeline and the strategies: no HTTP, no timers. It answers
 * each request by its response schema, the way a real model would read the prompt:
 * - sample requests (raiden_sbk_sample / raiden_cm_sample) with the simulated role model's grounded sample,
 *   or a flawed one when `flaw` says so;
 * - judge requests (raiden_judge_verdict) with `judgeScore`;
 * - in-character answer requests (quality gates) with `answer`.
 * Every call is recorded, so a test can assert what was asked of which backend.
 */
import { fakeSample, type OutputFlaw } from '../../bench/simulated-sglang/role-model.ts';
import {
  BackendUnavailableError,
  TransportError,
  type GenerateRequest,
  type GenerateResult,
  type LlmBackend,
} from '../../orchestrator/src/core/ports/llm-backend.ts';

export interface ScriptedCall {
  readonly schema: string;
  readonly request: GenerateRequest;
}

export interface ScriptedBackendOptions {
  /** Backend name as samples record it: `sglang` or `bedrock`. */
  readonly name: string;
  readonly model?: string;
  /** A flaw for the n-th sample request (1-based), or a transport failure; undefined answers well. */
  readonly flaw?: (callNumber: number, request: GenerateRequest) => OutputFlaw | 'transport' | 'unavailable' | undefined;
  /** The judge's score for the n-th judge request (1-based); 'fail' is a transport failure. */
  readonly judgeScore?: (callNumber: number, request: GenerateRequest) => number | 'fail';
  /** The in-character answer a gate model gives to a question. */
  readonly answer?: (request: GenerateRequest) => string;
  /** Tokens a call reports: fixed, or from the request (e.g. exactly what the estimate assumes). */
  readonly usage?:
    | { readonly inputTokens: number; readonly outputTokens: number }
    | ((request: GenerateRequest) => { readonly inputTokens: number; readonly outputTokens: number });
}

export interface ScriptedBackend extends LlmBackend {
  readonly calls: ScriptedCall[];
  /** Calls per response schema name. */
  count(schema: string): number;
}

export function scriptedBackend(options: ScriptedBackendOptions): ScriptedBackend {
  const calls: ScriptedCall[] = [];
  const model = options.model ?? `${options.name}-model`;
  const usageOf = (request: GenerateRequest) =>
    typeof options.usage === 'function' ? options.usage(request) : (options.usage ?? { inputTokens: 100, outputTokens: 50 });
  const count = (schema: string) => calls.filter((call) => call.schema === schema).length;
  let current: GenerateRequest | undefined;
  const result = (text: string): GenerateResult => ({ text, model, usage: usageOf(current as GenerateRequest), requests: 1 });
  return {
    name: options.name,
    calls,
    count,
    inFlight: () => 0,
    models: () => [model],
    async generate(request) {
      const schema = request.schema.name;
      calls.push({ schema, request });
      current = request;
      if (schema === 'raiden_judge_verdict') {
        const score = options.judgeScore?.(count(schema), request) ?? 8;
        if (score === 'fail') throw new TransportError('judge timed out', 1);
        return result(JSON.stringify({ score, reason: `scored ${score}` }));
      }
      if (schema === 'raiden_in_character_answer') return result(JSON.stringify({ answer: options.answer?.(request) ?? '' }));
      const flaw = options.flaw?.(count('raiden_sbk_sample') + count('raiden_cm_sample'), request);
      if (flaw === 'transport') throw new TransportError('connection reset', 1);
      if (flaw === 'unavailable') throw new BackendUnavailableError(`${options.name} is unreachable`);
      return result(fakeSample({ messages: request.messages.map((message) => ({ ...message })) }, flaw));
    },
  };
}
