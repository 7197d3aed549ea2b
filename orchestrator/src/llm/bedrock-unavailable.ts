/** Kept apart from the backend so the CLI can recognise the error without loading the AWS SDK. */
import { BackendUnavailableError } from '../core/ports/llm-backend.ts';

/** Why a Bedrock model cannot be used; each caller adds advice in its own terms (the CLI names its flags). */
export type BedrockUnavailableReason = 'credentials' | 'region' | 'unreachable' | 'access_denied' | 'model_not_found';

export class BedrockUnavailableError extends BackendUnavailableError {
  constructor(
    message: string,
    readonly reason: BedrockUnavailableReason,
    readonly modelId: string,
  ) {
    super(message);
  }
}
