import type { RunWriter } from '../core/run/run-manifest.ts';
import { processWriter } from './process-writer.ts';

/**
 * This process as the writer of a run in S3, named `command`. The lease there is held by a workflow execution
 * (its ARN) or by another CLI process: an execution counts as writing while Step Functions says RUNNING, or
 * when that cannot be asked, as Plan judges it; a process as processWriter judges it.
 */
export function s3RunWriter(command: string): RunWriter {
  const writer = processWriter(command);
  return {
    lease: writer.lease,
    isActive: async (holder) => {
      const region = /^arn:[^:]+:states:([^:]+):[^:]*:execution:/u.exec(holder.writer)?.[1];
      if (region === undefined) return writer.isActive(holder);
      const { SFNClient, DescribeExecutionCommand } = await import('@aws-sdk/client-sfn');
      const sfn = new SFNClient({ region });
      try {
        return (await sfn.send(new DescribeExecutionCommand({ executionArn: holder.writer }))).status === 'RUNNING';
      } catch (error) {
        return (error as { name?: string }).name !== 'ExecutionDoesNotExist';
      } finally {
        sfn.destroy();
      }
    },
  };
}
