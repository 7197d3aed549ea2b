import { responseSchema } from '../../orchestrator/src/core/prompts/sample-schema.ts';
import type { GenerateRequest } from '../../orchestrator/src/core/ports/llm-backend.ts';

/** One SBK model call as runGeneration builds it: instructions, then the profile block, then the task. */
export const SBK_REQUEST: GenerateRequest = {
  messages: [
    { role: 'system', content: 'instructions' },
    {
      role: 'user',
      content:
        '<character_profile>\nname: Ann\nbio: a baker in Tallinn\n</character_profile>\n\nTask: write SBK sample number 1 for Ann.\nFocus: the profile field "bio"; prefer a "what" question.',
    },
  ],
  schema: responseSchema('SBK'),
  maxTokens: 512,
  temperature: 0.7,
};
