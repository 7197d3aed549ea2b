import { BedrockClient, CreateModelInvocationJobCommand, GetModelInvocationJobCommand } from '@aws-sdk/client-bedrock';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { expect } from 'vitest';
import { fakeSample } from '../../bench/simulated-sglang/role-model.ts';
import { batchContractProblems } from '../../orchestrator/src/llm/bedrock-batch-contract.ts';

export type BatchJobOutcome = 'Completed' | 'PartiallyCompleted' | 'Expired' | 'Failed';

export interface FakeBatchOptions {
  /** Every n-th record (from the first) gets an error line instead of an answer. */
  readonly errorEvery?: number;
  /** Only the first n records get a line at all; the rest are missing. */
  readonly processOnly?: number;
  /** Records (by position in the input) answered with a keyword the profile does not contain. */
  readonly ungrounded?: readonly number[];
}

/**
 * Plays the Bedrock control plane through aws-sdk-client-mock (every BedrockClient, also ones the code
 * under test builds): CreateModelInvocationJob reads the JSONL input from S3 and refuses, as a failing
 * assertion, a request or a record that breaks the documented rules (bedrock-batch-contract.ts). On the
 * second status poll it writes the output like the service does: native InvokeModel response bodies from
 * the simulated role model, 900/120 tokens per record.
 */
export function fakeBatchService(s3: S3Client, bucket: string, model: string, outcome: BatchJobOutcome, options: FakeBatchOptions = {}) {
  const bedrock = mockClient(BedrockClient);
  let jobs = 0;
  const created = new Map<string, { input: string; output: string; polls: number }>();
  bedrock.on(CreateModelInvocationJobCommand).callsFake(async (input) => {
    const jobArn = `arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/job${++jobs}`;
    const uri = input.inputDataConfig.s3InputDataConfig.s3Uri;
    const text = await (
      await s3.send(new GetObjectCommand({ Bucket: bucket, Key: uri.replace(`s3://${bucket}/`, '') }))
    ).Body!.transformToString();
    expect(batchContractProblems({ request: input, lines: text.split('\n') })).toEqual([]);
    expect(input).toMatchObject({ modelId: model, modelInvocationType: 'InvokeModel' });
    created.set(jobArn, { input: uri, output: input.outputDataConfig.s3OutputDataConfig.s3Uri, polls: 0 });
    return { jobArn };
  });
  bedrock.on(GetModelInvocationJobCommand).callsFake(async ({ jobIdentifier }) => {
    const job = created.get(jobIdentifier)!;
    if (++job.polls < 2) return { jobArn: jobIdentifier, status: 'InProgress' };
    if (outcome === 'Failed') return { jobArn: jobIdentifier, status: 'Failed', message: 'The role cannot read the input bucket.' };
    const inputKey = job.input.replace(`s3://${bucket}/`, '');
    const text = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: inputKey }))).Body!.transformToString();
    const records = text
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as {
            recordId: string;
            modelInput: { system?: string; messages: { content: { text: string }[] }[]; tools: { name: string }[] };
          },
      );
    const lines = records.slice(0, options.processOnly ?? records.length).map((record, index) => {
      if (options.errorEvery !== undefined && index % options.errorEvery === 0)
        return {
          recordId: record.recordId,
          modelInput: record.modelInput,
          error: { errorCode: 400, errorMessage: 'Malformed input request' },
        };
      const prompt = [
        record.modelInput.system ?? '',
        ...record.modelInput.messages.flatMap((m) => m.content.map((block) => block.text)),
      ].join('\n');
      const input = JSON.parse(
        fakeSample({ messages: [{ role: 'user', content: prompt }] }, options.ungrounded?.includes(index) ? 'ungrounded' : undefined),
      );
      return {
        recordId: record.recordId,
        modelInput: record.modelInput,
        modelOutput: {
          id: `msg_${index}`,
          type: 'message',
          role: 'assistant',
          content: [{ type: 'tool_use', id: `toolu_${index}`, name: record.modelInput.tools[0]?.name, input }],
          stop_reason: 'tool_use',
          usage: { input_tokens: 900, output_tokens: 120 },
        },
      };
    });
    const jobId = jobIdentifier.split('/').pop();
    const outputPrefix = job.output.replace(`s3://${bucket}/`, '');
    const file = inputKey.split('/').pop();
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `${outputPrefix}${jobId}/${file}.out`,
        Body: lines.map((line) => JSON.stringify(line)).join('\n'),
      }),
    );
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `${outputPrefix}${jobId}/manifest.json.out`,
        Body: JSON.stringify({ totalRecordCount: records.length }),
      }),
    );
    return { jobArn: jobIdentifier, status: outcome };
  });
  return bedrock;
}
