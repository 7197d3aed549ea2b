import { parseModelSpec } from '../core/run/run-backends.ts';
import type { RunSpec } from '../core/run/run-spec.ts';
import { BedrockUnavailableError, type BedrockUnavailableReason } from '../llm/bedrock-unavailable.ts';

type ModelFlags = Pick<RunSpec, 'bedrockModel' | 'judgeModel' | 'keywordAgreementModels' | 'difficultyStudentModel'>;

/**
 * What a CLI user can do about a Bedrock model the preflight refused, in terms of the CLI's flags; undefined
 * for other errors. `spec` tells which flag named the model; without it, the model is the judge's.
 */
export function bedrockHint(error: unknown, spec?: ModelFlags): string | undefined {
  if (!(error instanceof BedrockUnavailableError)) return undefined;
  const hints: Record<BedrockUnavailableReason, string> = {
    credentials:
      'set AWS credentials that allow bedrock:InvokeModel: aws configure or aws sso login, AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    region: 'pass --bedrock-region with a region such as us-east-1, or set AWS_REGION',
    unreachable: 'check --bedrock-region (and --bedrock-endpoint, if you gave one) and the network',
    access_denied:
      'let these credentials call bedrock:InvokeModel on the model, and request access to it in the Bedrock console (Model access) of this region',
    model_not_found: `check ${flagsNaming(error.modelId, spec).join(' / ')}: give a Bedrock model id or inference profile id offered in this region, such as us.anthropic.claude-sonnet-4-5-20250929-v1:0`,
  };
  return hints[error.reason];
}

function flagsNaming(modelId: string, spec: ModelFlags | undefined): string[] {
  if (spec === undefined) return ['--judge-model'];
  const bedrockModelOf = (text: string | undefined) => {
    const parsed = text === undefined ? undefined : parseModelSpec(text);
    return parsed?.kind === 'bedrock' ? parsed.model : undefined;
  };
  const flags = [
    ...(spec.bedrockModel === modelId ? ['--bedrock-model'] : []),
    ...(spec.judgeModel === modelId ? ['--judge-model'] : []),
    ...(spec.keywordAgreementModels.some((text) => bedrockModelOf(text) === modelId) ? ['--keyword-agreement-models'] : []),
    ...(bedrockModelOf(spec.difficultyStudentModel) === modelId ? ['--difficulty-student-model'] : []),
  ];
  return flags.length > 0 ? flags : ['--bedrock-model'];
}
