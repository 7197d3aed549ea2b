import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { ListStateMachinesCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../orchestrator/src/cli/main.ts';

const sfn = mockClient(SFNClient);
const autoScaling = mockClient(AutoScalingClient);
beforeEach(() => {
  sfn.reset();
  autoScaling.reset();
});

async function raiden(args: readonly string[]) {
  const out = { stdout: '', stderr: '' };
  const code = await main(args, {
    stdout: { write: (text: string) => (out.stdout += text) },
    stderr: { isTTY: false, write: (text: string) => (out.stderr += text) },
  });
  return { code, ...out };
}

/** What the SDK throws when the region's endpoint host does not exist. */
const noSuchHost = (host: string) =>
  Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND', $metadata: { attempts: 1 } });

describe('a bad --region for raiden status, start and teardown', () => {
  it.each([
    [['status', '--region', 'us east 1'], '"us east 1"'],
    [['teardown', '--region', 'useast1'], '"useast1"'],
    [['start', '--region', 'not_a_region', '--profiles', 's3://in/roles.jsonl'], '"not_a_region"'],
  ])('%j: not a region name, said so (not "no AWS region"), exit 2', async (args, shown) => {
    const result = await raiden(args);
    expect(result.stderr).toContain(
      `${shown} (from --region, AWS_REGION or your profile) is not an AWS region name: give one such as us-east-1`,
    );
    expect(result.stderr).not.toMatch(/no AWS region|unexpected error|\n\s+at /u);
    expect(result.code).toBe(2);
  });

  it('a region that does not exist: cannot reach AWS there, exit 2 without a getaddrinfo stack', async () => {
    sfn.on(ListStateMachinesCommand).rejects(noSuchHost('states.us-esat-1.amazonaws.com'));
    autoScaling.on(DescribeAutoScalingGroupsCommand).rejects(noSuchHost('autoscaling.us-esat-1.amazonaws.com'));
    for (const command of [['status'], ['teardown']]) {
      const result = await raiden([...command, '--region', 'us-esat-1']);
      expect(result.stderr).toMatch(
        /cannot reach AWS in us-esat-1 \(getaddrinfo ENOTFOUND \S+\.us-esat-1\.amazonaws\.com\): check that us-esat-1 \(from --region, AWS_REGION or your profile\) is a region that exists, such as us-east-1/u,
      );
      expect(result.stderr).not.toMatch(/unexpected error|\n\s+at /u);
      expect(result.code).toBe(2);
    }
  });
});
