/** How to train on an export of each format with its reward function: the dataset card's recipe. */
import type { ExportFormat } from './export-formats.ts';

export const REWARD_USAGE: Readonly<Record<ExportFormat, string>> = {
  verl: `verl (\`EXPORT\` is this directory):

\`\`\`bash
python3 -m verl.trainer.main_ppo \\
  algorithm.adv_estimator=grpo \\
  data.train_files=$EXPORT/train.parquet \\
  data.val_files=$EXPORT/validation.parquet \\
  custom_reward_function.path=$EXPORT/raiden_reward.py \\
  custom_reward_function.name=compute_score \\
  actor_rollout_ref.model.path=Qwen/Qwen2.5-7B-Instruct
\`\`\`

\`compute_score(data_source, solution_str, ground_truth, extra_info=None, format_weight=0.0)\` returns a float; set \`+custom_reward_function.reward_kwargs.format_weight=0.1\` to add the format term.`,
  trl: `TRL (\`EXPORT\` is this directory):

\`\`\`python
import sys
from datasets import load_dataset
from trl import GRPOConfig, GRPOTrainer

sys.path.insert(0, EXPORT)
from raiden_reward import keyword_reward

data = load_dataset("parquet", data_files={"train": f"{EXPORT}/train.parquet", "validation": f"{EXPORT}/validation.parquet"})
trainer = GRPOTrainer(
    model="Qwen/Qwen2.5-7B-Instruct",
    reward_funcs=keyword_reward,
    args=GRPOConfig(output_dir="raiden-grpo"),
    train_dataset=data["train"],
    eval_dataset=data["validation"],
)
trainer.train()
\`\`\`

TRL passes the \`keywords\`, \`keyword_alternatives\` and \`kind\` columns to \`keyword_reward(completions, keywords, keyword_alternatives, **kwargs)\`; \`functools.partial(keyword_reward, format_weight=0.1)\` adds the format term.`,
  easyr1: `EasyR1 (\`EXPORT\` is this directory; the reader takes \`prompt\` as one user message and hands \`answer\` to the reward as \`ground_truth\`):

\`\`\`bash
python3 -m verl.trainer.main config=examples/config.yaml \\
  data.train_files=$EXPORT/train.parquet \\
  data.val_files=$EXPORT/validation.parquet \\
  data.prompt_key=prompt \\
  data.answer_key=answer \\
  data.format_prompt=null \\
  worker.reward.reward_function=$EXPORT/raiden_reward.py:easyr1_compute_score \\
  worker.actor.model.model_path=Qwen/Qwen2.5-7B-Instruct
\`\`\`

\`easyr1_compute_score(reward_inputs, format_weight=0.0)\` (\`REWARD_TYPE = "batch"\`) returns \`{overall, format, accuracy}\` per response; \`worker.reward.reward_function_kwargs='{format_weight: 0.1}'\` adds the format term.`,
  sft: `For cold-start fine-tuning, each line of \`train.jsonl\` is one conversation in the \`messages\` layout (TRL \`SFTTrainer\`, LLaMA-Factory \`sharegpt\` with \`role\`/\`content\` tags): \`load_dataset("json", data_files=f"{EXPORT}/train.jsonl")\`. The reward function is included so the fine-tuned model can be scored exactly as the GRPO exports score it (\`raiden export --format verl|trl|easyr1\` of the same run).`,
};
