/**
 * The four export layouts: which file each split goes to, its columns, and how a sample becomes a row.
 * The keys each trainer reads were checked against its source (see each format's note).
 */
import type { Sample } from '../verify/sample.ts';
import type { TableSchema } from './parquet-table.ts';
import type { TrainerChat } from './prompt-tokens.ts';
import { assistantTurn, groundTruthOf, promptMessages, promptText, type PromptProfile } from './trainer-prompt.ts';

export const EXPORT_FORMATS = ['verl', 'trl', 'easyr1', 'sft'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const SPLITS = ['train', 'validation'] as const;
export type Split = (typeof SPLITS)[number];

export interface RowInput {
  readonly sample: Sample;
  readonly profile: PromptProfile;
  readonly split: Split;
  /** Position of the sample in its split. */
  readonly index: number;
}

export interface FormatLayout {
  readonly format: ExportFormat;
  /** Parquet with this schema, or JSON lines when undefined. */
  readonly table: TableSchema | undefined;
  /** Each column and what it holds, for the dataset card. */
  readonly columns: Readonly<Record<string, string>>;
  row(input: RowInput): Record<string, unknown>;
  /** The chat the trainer applies the model's chat template to, whose tokens the card and the recipes count. */
  chat(input: RowInput): TrainerChat;
  /** Files a trainer needs beside the data files, such as LLaMA-Factory's dataset_info.json. */
  companions?(dataFiles: readonly DataFile[]): { readonly name: string; readonly body: string }[];
}

export interface DataFile {
  readonly split: Split;
  readonly name: string;
  readonly rows: number;
}

const MESSAGES = { list: { struct: { role: 'string', content: 'string' } } } as const;
const STRINGS = { list: 'string' } as const;

/** The prompt messages as verl, TRL and SFT trainers read them, and the reference response. */
const messagesChat = ({ sample, profile }: RowInput): TrainerChat => ({
  prompt: promptMessages(sample, profile),
  response: assistantTurn(sample),
});

/**
 * verl: RLHFDataset reads `prompt` as chat messages for apply_chat_template and `extra_info.index`; the
 * reward managers pass `data_source`, `reward_model.ground_truth` and `extra_info` to compute_score
 * (volcengine/verl at b178a3c: verl/utils/dataset/rl_dataset.py, verl/workers/reward_manager/naive.py,
 * verl/trainer/ppo/reward.py, examples/data_preprocess/gsm8k.py for the row layout; the same in
 * verl-project/verl, where the repository moved, at 1dda039 with verl/experimental/reward_loop/reward_manager/naive.py).
 */
const VERL: FormatLayout = {
  format: 'verl',
  table: {
    data_source: 'string',
    prompt: MESSAGES,
    ability: 'string',
    reward_model: { struct: { style: 'string', ground_truth: 'string' } },
    extra_info: {
      struct: {
        index: 'int64',
        id: 'string',
        character: 'string',
        split: 'string',
        kind: 'string',
        question_type: 'string',
        difficulty: 'string',
      },
    },
  },
  columns: {
    data_source: '`raiden/sbk` or `raiden/cm`',
    prompt: 'chat messages: system (role-play instruction and profile), the CM conversation, the question',
    ability: '`roleplay`',
    reward_model:
      '`{style: "rule", ground_truth}`; ground_truth is a JSON string `{keywords, keyword_alternatives, kind, language, distractors, rivals, allowed_numbers, in_character, reference_answer}` (raiden_reward.py says what each is for)',
    extra_info: '`{index, id, character, split, kind, question_type, difficulty}`',
  },
  row: ({ sample, profile, split, index }) => ({
    data_source: `raiden/${sample.metadata.kind.toLowerCase()}`,
    prompt: promptMessages(sample, profile),
    ability: 'roleplay',
    reward_model: { style: 'rule', ground_truth: JSON.stringify(groundTruthOf(sample, profile)) },
    extra_info: {
      index: BigInt(index),
      id: sample.id,
      character: sample.character_name,
      split,
      kind: sample.metadata.kind,
      question_type: sample.question_type,
      difficulty: sample.difficulty,
    },
  }),
  chat: messagesChat,
};

/**
 * TRL GRPOTrainer: a conversational `prompt`; every other column reaches the reward functions as a
 * keyword argument, one value per completion (huggingface/trl at f2cd577: trl/trainer/grpo_trainer.py,
 * _calculate_rewards).
 */
const TRL: FormatLayout = {
  format: 'trl',
  table: {
    prompt: MESSAGES,
    keywords: STRINGS,
    keyword_alternatives: { list: STRINGS },
    kind: 'string',
    ground_truth: 'string',
    id: 'string',
  },
  columns: {
    prompt: 'chat messages: system (role-play instruction and profile), the CM conversation, the question',
    ground_truth:
      'what the reward checks, a JSON string `{keywords, keyword_alternatives, kind, language, distractors, rivals, allowed_numbers, in_character, reference_answer}` (raiden_reward.py says what each is for)',
    keywords: 'the keywords an answer must hold, all of them',
    keyword_alternatives: 'for each keyword, other written forms that count as it',
    kind: '`SBK` or `CM`',
    id: 'the sample id in the run, `<profile>/<kind>/<index>`',
  },
  row: ({ sample, profile }) => {
    const truth = groundTruthOf(sample, profile);
    return {
      prompt: promptMessages(sample, profile),
      keywords: truth.keywords,
      keyword_alternatives: truth.keyword_alternatives,
      kind: truth.kind,
      ground_truth: JSON.stringify(truth),
      id: sample.id,
    };
  },
  chat: messagesChat,
};

/**
 * EasyR1: RLHFDataset takes `prompt_key` (default `prompt`) as one string it wraps in a single user
 * message, and passes `answer_key` (default `answer`) to the reward function as `ground_truth`
 * (hiyouga/EasyR1 at b44b311: verl/utils/dataset.py, verl/workers/reward/function.py). Its reader takes a
 * directory's first file's extension as the format, so the trainer is pointed at the files themselves.
 */
const EASYR1: FormatLayout = {
  format: 'easyr1',
  table: { prompt: 'string', answer: 'string', id: 'string' },
  columns: {
    prompt:
      'one string (EasyR1 sends it as the only user message): instruction, profile, the CM conversation as a transcript, the question',
    answer:
      'the ground truth as a JSON string `{keywords, keyword_alternatives, kind, language, distractors, rivals, allowed_numbers, in_character, reference_answer}` (raiden_reward.py says what each is for)',
    id: 'the sample id in the run, `<profile>/<kind>/<index>`',
  },
  row: ({ sample, profile }) => ({
    prompt: promptText(sample, profile),
    answer: JSON.stringify(groundTruthOf(sample, profile)),
    id: sample.id,
  }),
  chat: ({ sample, profile }) => ({ prompt: [{ role: 'user', content: promptText(sample, profile) }], response: assistantTurn(sample) }),
};

/** The names the SFT export's dataset_info.json gives its splits, for LLaMA-Factory's `dataset` and `eval_dataset`. */
export const LLAMA_FACTORY_DATASETS: Readonly<Record<Split, string>> = { train: 'raiden_train', validation: 'raiden_validation' };

/**
 * LLaMA-Factory finds a local dataset by its name in `dataset_dir`/dataset_info.json; OpenAI-style messages
 * are its `sharegpt` formatting with role/content tags and user/assistant/system values, the system
 * message first (hiyouga/LLaMA-Factory at ff6d4d1: data/README.md, src/llamafactory/data/parser.py,
 * src/llamafactory/data/converter.py SharegptDatasetConverter).
 */
function llamaFactoryDatasetInfo(dataFiles: readonly DataFile[]): string {
  const info = Object.fromEntries(
    dataFiles.map((file) => [
      LLAMA_FACTORY_DATASETS[file.split],
      {
        file_name: file.name,
        formatting: 'sharegpt',
        columns: { messages: 'messages' },
        tags: { role_tag: 'role', content_tag: 'content', user_tag: 'user', assistant_tag: 'assistant', system_tag: 'system' },
      },
    ]),
  );
  return `${JSON.stringify(info, null, 2)}\n`;
}

/** Cold-start fine-tuning: the conversational `messages` layout of TRL's SFTTrainer and LLaMA-Factory. */
const SFT: FormatLayout = {
  format: 'sft',
  table: undefined,
  columns: {
    messages: 'the prompt messages, then the assistant turn: the reasoning in a `<think>` block, then the answer',
    id: 'the sample id in the run, `<profile>/<kind>/<index>`',
  },
  row: ({ sample, profile }) => ({
    messages: [...promptMessages(sample, profile), { role: 'assistant', content: assistantTurn(sample) }],
    id: sample.id,
  }),
  chat: messagesChat,
  companions: (dataFiles) => [{ name: 'dataset_info.json', body: llamaFactoryDatasetInfo(dataFiles) }],
};

export const FORMAT_LAYOUTS: Readonly<Record<ExportFormat, FormatLayout>> = { verl: VERL, trl: TRL, easyr1: EASYR1, sft: SFT };

export function splitFileName(layout: FormatLayout, split: Split): string {
  return `${split}.${layout.table === undefined ? 'jsonl' : 'parquet'}`;
}
