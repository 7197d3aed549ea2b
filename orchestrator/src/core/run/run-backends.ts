/**
 * Connects the backends a step of a run needs, in the roles its strategy asks for, and the quality gates'
 * models. Both front doors call it with their own transport settings and SGLang endpoints.
 */
import type { BatchBackend } from '../../contract/workflow-payloads.ts';
import type { BackendFactory, TransportSettings } from '../ports/backend-factory.ts';
import type { LlmBackend } from '../ports/llm-backend.ts';
import type { ResponseCache } from '../ports/response-cache.ts';
import { supportsPromptCaching, type Prices } from '../report/model-prices.ts';
import { newCacheStats, withResponseCache, type ResponseCacheStats } from './response-cache.ts';
import { difficultyGate, keywordAgreementGate, type GateModel, type QualityGate } from '../review/quality-gates.ts';
import type { RunSpec } from './run-spec.ts';
import { assignedBackends, type Assignment, type BackendRole, type Strategy } from '../strategies/strategy.ts';

export interface BackendSettings {
  readonly create: BackendFactory;
  readonly prices: Prices;
  readonly sglang: TransportSettings & {
    /** The servers and their key: --endpoint locally, the fleet's in-service instances in the workflow. */
    servers(): Promise<{ readonly endpoints: readonly string[]; readonly apiKey?: string | undefined }>;
    readonly maxInFlight: number;
  };
  readonly bedrock: TransportSettings & {
    readonly region?: string | undefined;
    readonly endpoint?: string | undefined;
    readonly maxConcurrency: number;
  };
  /** Asked before every backend, and given every answer: the run directory's machine or the workflow's bucket. None: no cache. */
  readonly cache?: ResponseCache | undefined;
}

export interface RunBackends {
  backend(role: BackendRole): LlmBackend;
  readonly gates: readonly QualityGate[];
  /** Every backend connected, for the progress display (requests in flight) and messages (models). */
  all(): readonly LlmBackend[];
  /** What the response cache did for these backends so far; undefined when they have none. */
  cacheStats(): ResponseCacheStats | undefined;
}

/** The step of a run that is connecting, and so which roles it needs. */
export type RunStep =
  /** The whole run on this machine: every assigned backend, and the judge when the strategy uses one. */
  | { readonly kind: 'local'; readonly profileIds: readonly string[] }
  /** One workflow batch: its backend, and the judge when the strategy judges while generating. */
  | { readonly kind: 'batch'; readonly backend: BatchBackend }
  /** Finalize: the judge when the strategy evaluates afterwards. */
  | { readonly kind: 'finish' };

export function rolesFor(step: RunStep, strategy: Strategy, assignment: Assignment): BackendRole[] {
  switch (step.kind) {
    case 'local':
      return [...assignedBackends(assignment, step.profileIds), ...(strategy.judge !== 'never' ? (['judge'] as const) : [])];
    case 'batch':
      return [step.backend, ...(strategy.judge === 'generation' ? (['judge'] as const) : [])];
    case 'finish':
      return strategy.judge === 'finish' ? ['judge'] : [];
  }
}

export interface ConnectOptions {
  readonly spec: RunSpec;
  readonly roles: readonly BackendRole[];
  /** Connect the quality gates' models (steps that generate). */
  readonly gates: boolean;
  readonly settings: BackendSettings;
}

export async function connectRunBackends(options: ConnectOptions): Promise<RunBackends> {
  const { spec, settings } = options;
  const all: LlmBackend[] = [];
  const stats = newCacheStats();
  const cached = (backend: LlmBackend) => withResponseCache(backend, settings.cache, stats);
  const bedrockModels = new Map<string, Promise<LlmBackend>>();
  const bedrock = (modelId: string) => {
    let backend = bedrockModels.get(modelId);
    if (backend === undefined) {
      const { create, prices } = settings;
      backend = create({
        kind: 'bedrock',
        modelId,
        ...settings.bedrock,
        promptCaching: supportsPromptCaching(modelId, prices.bedrock),
      }).then((made) => {
        const backend = cached(made);
        all.push(backend);
        return backend;
      });
      bedrockModels.set(modelId, backend);
    }
    return backend;
  };
  const sglang = async (model = spec.model, endpoints?: readonly string[]) => {
    const { servers, ...transport } = settings.sglang;
    const fleet = await servers();
    const made = cached(
      await settings.create({
        kind: 'sglang',
        ...transport,
        endpoints: endpoints ?? fleet.endpoints,
        apiKey: fleet.apiKey,
        model,
      }),
    );
    all.push(made);
    return made;
  };

  const roles = new Map<BackendRole, LlmBackend>();
  for (const role of new Set(options.roles)) {
    roles.set(
      role,
      role === 'sglang' ? await sglang() : await bedrock(role === 'judge' ? (spec.judgeModel ?? spec.bedrockModel) : spec.bedrockModel),
    );
  }

  const gateModel = async (text: string): Promise<GateModel> => {
    const { kind, model, endpoint } = parseModelSpec(text);
    if (kind === 'bedrock') return { label: `bedrock:${model}`, backend: await bedrock(model) };
    return { label: `sglang:${model}`, backend: await sglang(model, endpoint === undefined ? undefined : [endpoint]) };
  };
  const gates: QualityGate[] = [];
  if (options.gates && spec.keywordAgreementModels.length > 0)
    gates.push(keywordAgreementGate(await Promise.all(spec.keywordAgreementModels.map(gateModel))));
  if (options.gates && spec.difficultyStudentModel !== undefined) gates.push(difficultyGate(await gateModel(spec.difficultyStudentModel)));

  return {
    backend(role) {
      const backend = roles.get(role);
      if (backend === undefined) throw new Error(`the ${role} backend was not connected for this step of a ${spec.strategy} run`);
      return backend;
    },
    gates,
    all: () => all,
    cacheStats: () => (settings.cache === undefined ? undefined : stats),
  };
}

/** The same backends with `role` answered by `backend` (a wrapper of the original, e.g. batch answers first). */
export function withBackend(backends: RunBackends, role: BackendRole, backend: LlmBackend): RunBackends {
  return { ...backends, backend: (asked) => (asked === role ? backend : backends.backend(asked)), all: () => [...backends.all(), backend] };
}

/** `bedrock:<model id>`, `sglang:<model>[@<endpoint>]`, or a bare Bedrock model id (validated by the RunSpec). */
export function parseModelSpec(text: string): { kind: 'bedrock' | 'sglang'; model: string; endpoint?: string } {
  const trimmed = text.trim();
  if (trimmed.startsWith('sglang:')) {
    const [model = '', endpoint] = trimmed.slice('sglang:'.length).split('@');
    return { kind: 'sglang', model, ...(endpoint ? { endpoint } : {}) };
  }
  return { kind: 'bedrock', model: trimmed.startsWith('bedrock:') ? trimmed.slice('bedrock:'.length) : trimmed };
}

/** `backend:model` of every connected backend, for messages. */
export function modelLabels(backends: readonly LlmBackend[]): string[] {
  return [...new Set(backends.flatMap((backend) => (backend.models?.() ?? []).map((model) => `${backend.name}:${model}`)))];
}
