import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, PLACEHOLDER_ACCOUNT, SETTING_KEYS, parseConfig, settingsSchema } from '../../lib/config.ts';
import { CDK_JSON_CONTEXT } from '../support/cdk-app.ts';

function problemsOf(context: Record<string, unknown>): string[] {
  try {
    parseConfig(context, {});
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('config defaults', () => {
  it('defaults to one idle p5en.48xlarge slot with tp8, a placeholder account and a note saying so', () => {
    const { config, notes } = parseConfig({}, {});
    expect(config).toMatchObject({
      instanceType: 'p5en.48xlarge',
      gpuCount: 8,
      layoutName: 'tp8',
      maxInstances: 1,
      desiredInstances: 0,
      capacity: 'on-demand',
      account: PLACEHOLDER_ACCOUNT,
      region: 'us-east-1',
      availabilityZones: ['us-east-1a', 'us-east-1b', 'us-east-1c'],
    });
    expect(notes.join('\n')).toMatch(/placeholder account 000000000000/);
  });

  it('takes account and region from the CDK CLI environment when context has none', () => {
    const { config, notes } = parseConfig(
      { availabilityZones: 'us-west-2b,us-west-2d' },
      { CDK_DEFAULT_ACCOUNT: '123456789012', CDK_DEFAULT_REGION: 'us-west-2' },
    );
    expect([config.account, config.region, config.availabilityZones]).toEqual(['123456789012', 'us-west-2', ['us-west-2b', 'us-west-2d']]);
    expect(notes).toEqual([]);
  });

  it("cdk.json's context matches the schema defaults", () => {
    const defaults = settingsSchema.parse({});
    for (const [key, value] of Object.entries(CDK_JSON_CONTEXT)) {
      if (key.includes(':') || key.startsWith('@')) continue;
      expect({ key, value }).toEqual({ key, value: defaults[key as keyof typeof defaults] });
    }
  });

  it('docs/deploy.md lists every setting', () => {
    const docs = readFileSync(join(import.meta.dirname, '../../docs/deploy.md'), 'utf8');
    expect(SETTING_KEYS.filter((key) => !docs.includes(`\`${key}\``))).toEqual([]);
  });
});

describe('availability zones', () => {
  const REAL = { CDK_DEFAULT_ACCOUNT: '123456789012', CDK_DEFAULT_REGION: 'us-east-1' };
  const problemsFor = (context: Record<string, unknown>, env: Record<string, string> = REAL): string[] => {
    try {
      parseConfig(context, env);
    } catch (error) {
      if (error instanceof ConfigError) return [...error.problems];
      throw error;
    }
    return [];
  };

  it('a real account gets no guessed zones: <region>a,b,c may lack the instance type, so it names raiden doctor', () => {
    expect(problemsFor({})).toEqual([
      'availabilityZones is not set: p5en.48xlarge is offered only in some zones of us-east-1, and zone names differ between ' +
        'accounts. Run npx raiden doctor, which lists the zones of account 123456789012 that offer it, then deploy with ' +
        '-c availabilityZones=<those zones>',
    ]);
  });

  it('a Capacity Block or Capacity Reservation lives in one zone, so the fleet may list only that one', () => {
    const reserved = { capacity: 'capacity-block', capacityReservationId: 'cr-0123456789abcdef0' };
    expect(problemsFor({ ...reserved, availabilityZones: 'us-east-1a,us-east-1b' })).toEqual([
      expect.stringMatching(
        /^availabilityZones \["us-east-1a","us-east-1b"\] has 2 zones, but capacity "capacity-block" launches into one: .* Set -c availabilityZones=<its zone>/u,
      ),
    ]);
    expect(problemsFor({ ...reserved, capacity: 'capacity-reservation', availabilityZones: 'us-east-1a,us-east-1c' })).toHaveLength(1);
    expect(problemsFor({ ...reserved, availabilityZones: 'us-east-1c' })).toEqual([]);
  });

  it('the placeholder account still synthesizes without credentials: placeholder zones, one for a reservation', () => {
    expect(parseConfig({}, {}).config.availabilityZones).toEqual(['us-east-1a', 'us-east-1b', 'us-east-1c']);
    const reserved = parseConfig({ capacity: 'capacity-block', capacityReservationId: 'cr-0123456789abcdef0' }, {});
    expect(reserved.config.availabilityZones).toEqual(['us-east-1a']);
  });
});

describe('config from -c strings', () => {
  it('coerces numbers, booleans, comma lists and JSON servers', () => {
    const { config } = parseConfig(
      {
        maxInstances: '2',
        desiredInstances: '1',
        retainOutputs: 'true',
        bedrockModelIds: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0, anthropic.claude-3-5-haiku-20241022-v1:0',
        servers: '[{"name":"small","model":"Qwen/Qwen2.5-7B-Instruct","gpus":[0,1],"dp":2,"port":31000}]',
      },
      {},
    );
    expect(config).toMatchObject({ maxInstances: 2, desiredInstances: 1, retainOutputs: true, layoutName: 'custom' });
    expect(config.bedrockModelIds).toHaveLength(2);
    // dp 2 runs as two servers of one GPU each (see replicaServers): one port and one NCCL port per replica.
    expect(config.resolvedServers).toEqual([
      { name: 'small-0', model: 'Qwen/Qwen2.5-7B-Instruct', gpus: [0], tp: 1, dp: 1, port: 31000, ncclPort: 40000, extraArgs: [] },
      { name: 'small-1', model: 'Qwen/Qwen2.5-7B-Instruct', gpus: [1], tp: 1, dp: 1, port: 31001, ncclPort: 40001, extraArgs: [] },
    ]);
  });

  it('names the key, the value and the expectation for a bad field', () => {
    expect(problemsOf({ idleMinutes: 'soon' })).toEqual(['idleMinutes "soon" is invalid: Invalid input: expected number, received string']);
    expect(problemsOf({ region: 'Virginia' })).toEqual(['region "Virginia" is invalid: expected something like us-east-1']);
  });
});

describe('config cross-field errors', () => {
  it.each([
    [{ layuot: 'tp4x2' }, /^context key "layuot" is not a raiden setting: remove it or use one of stackPrefix, /],
    [{ vpcId: 'vpc-0123456789abcdef0' }, /^vpcId "vpc-0123456789abcdef0" is set but subnetIds is empty: list the private subnets/],
    [{ subnetIds: 'subnet-0123456789abcdef0' }, /^subnetIds is set but vpcId is not: add -c vpcId=vpc-\.\.\. or remove subnetIds/],
    [{ capacity: 'capacity-block' }, /^capacity "capacity-block" needs capacityReservationId: add -c capacityReservationId=cr-/],
    [
      { capacityReservationId: 'cr-0123456789abcdef0' },
      /is only used with capacity capacity-reservation or capacity-block, not "on-demand"/,
    ],
    [{ desiredInstances: 2 }, /^desiredInstances 2 is more than maxInstances 1: raise maxInstances or lower desiredInstances$/],
    [
      { instanceType: 'p6-b200.48xlarge' },
      /^instanceType "p6-b200\.48xlarge" is not in the instance table .* add -c gpuCount=<GPUs on it>/,
    ],
    [{ gpuCount: 4 }, /^gpuCount 4 does not match instanceType p5en\.48xlarge, which has 8 GPUs: remove gpuCount$/],
    [{ models: 'a/b,c/d' }, /^models lists 2 models but layout tp8 has 1 server\(s\): give at most 1 model\(s\)/],
    [{ layout: 'custom' }, /^layout "custom" needs servers: add -c 'servers=\[/],
    [{ region: 'eu-west-1', availabilityZones: 'us-east-1a' }, /^availabilityZones \["us-east-1a"\] are not in region eu-west-1/],
    [
      { instanceType: 'g6e.12xlarge' },
      /^layout tp8 needs 8 GPUs but instanceType g6e\.12xlarge has 4: choose an instance type with at least 8 GPUs/,
    ],
  ])('%j', (context, message) => {
    expect(problemsOf(context)).toEqual(expect.arrayContaining([expect.stringMatching(message)]));
  });

  it('says why a servers list arrived as text: cut after its first line by cdk -c, or not JSON', () => {
    expect(problemsOf({ layout: 'custom', servers: '[' })).toEqual([
      expect.stringMatching(
        /^servers "\[" is invalid: the JSON list stops early: cdk -c keeps only the first line of a value, so write the whole list on one line/,
      ),
    ]);
    expect(problemsOf({ layout: 'custom', servers: 'judge,writer' })).toEqual([
      expect.stringMatching(/^servers "judge,writer" is invalid: expected a JSON list of servers: quote it for the shell/),
    ]);
  });

  it('reports layout errors of a servers list with the servers[i] field', () => {
    const servers = JSON.stringify([
      { name: 'a', model: 'Qwen/Qwen3-8B', gpus: [0, 1, 2, 3], tp: 4, port: 30000 },
      { name: 'b', model: 'Qwen/Qwen3-8B', gpus: [3, 4, 5, 6], tp: 4, port: 30000 },
    ]);
    expect(problemsOf({ servers })).toEqual([
      'servers[1].gpus [3,4,5,6] overlaps servers[0].gpus [0,1,2,3]: give each server its own GPUs',
      'servers[1].port 30000 is also servers[0].port: give each server its own port (for example 30001)',
    ]);
  });

  it('an unknown instance type works once gpuCount is given', () => {
    const { config } = parseConfig({ instanceType: 'p6-b200.48xlarge', gpuCount: 8 }, {});
    expect(config.gpuCount).toBe(8);
  });

  it('prints every problem at once in the error message', () => {
    expect(() => parseConfig({ desiredInstances: 3, capacity: 'spot', capacityReservationId: 'cr-0123456789abcdef0' }, {})).toThrow(
      /Invalid raiden configuration[\s\S]*capacityReservationId[\s\S]*desiredInstances 3/,
    );
  });
});
