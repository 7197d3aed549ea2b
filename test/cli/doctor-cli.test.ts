import { BedrockClient, GetFoundationModelAvailabilityCommand, GetInferenceProfileCommand } from '@aws-sdk/client-bedrock';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  DescribeAvailabilityZonesCommand,
  DescribeCapacityReservationsCommand,
  DescribeInstanceTypeOfferingsCommand,
  DescribeInstanceTypesCommand,
  DescribeRegionsCommand,
  DescribeVpcEndpointsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { GetAWSDefaultServiceQuotaCommand, GetServiceQuotaCommand, ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { withRegionContext } from '../../orchestrator/src/cli/cdk-commands.ts';
import { main } from '../../orchestrator/src/cli/main.ts';

const sts = mockClient(STSClient);
const ec2 = mockClient(EC2Client);
const cloudFormation = mockClient(CloudFormationClient);
const quotas = mockClient(ServiceQuotasClient);
const bedrock = mockClient(BedrockClient);

const ACCOUNT = '123456789012';
/** This account's zone names: p5en.48xlarge is offered in use1-az4 and use1-az6 only. */
const ZONES = [
  { ZoneName: 'us-east-1a', ZoneId: 'use1-az1' },
  { ZoneName: 'us-east-1b', ZoneId: 'use1-az4' },
  { ZoneName: 'us-east-1c', ZoneId: 'use1-az2' },
  { ZoneName: 'us-east-1d', ZoneId: 'use1-az6' },
];
const GOOD = ['-c', 'region=us-east-1', '-c', 'availabilityZones=us-east-1b,us-east-1d'];

function io() {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    streams: {
      stdout: { write: (text: string) => (out.stdout += text) },
      stderr: { isTTY: false, write: (text: string) => (out.stderr += text) },
    },
  };
}

async function doctor(args: string[]): Promise<{ code: number; stdout: string; line: (check: string) => string }> {
  const { out, streams } = io();
  const code = await main(['doctor', ...args], streams);
  const line = (check: string) => {
    const lines = out.stdout.split('\n');
    const at = lines.findIndex((text) => new RegExp(`^  (pass|fail|skip)  ${check}\\b`, 'u').test(text));
    if (at < 0) throw new Error(`no ${check} line in:\n${out.stdout}${out.stderr}`);
    const fix = lines[at + 1]?.trim().startsWith('fix:') ? `\n${lines[at + 1]}` : '';
    return `${lines[at]}${fix}`;
  };
  return { code, stdout: out.stdout + out.stderr, line };
}

const notFound = (message: string, name: string) => Object.assign(new Error(message), { name });

beforeEach(() => {
  for (const mock of [sts, ec2, cloudFormation, quotas, bedrock]) mock.reset();
  sts.on(GetCallerIdentityCommand).resolves({ Account: ACCOUNT, Arn: `arn:aws:iam::${ACCOUNT}:user/deployer` });
  ec2.on(DescribeRegionsCommand).resolves({
    Regions: [
      { RegionName: 'us-east-1', OptInStatus: 'opt-in-not-required' },
      { RegionName: 'af-south-1', OptInStatus: 'not-opted-in' },
    ],
  });
  cloudFormation.on(DescribeStacksCommand).resolves({
    Stacks: [
      {
        StackName: 'CDKToolkit',
        StackStatus: 'UPDATE_COMPLETE',
        CreationTime: new Date(),
        Outputs: [{ OutputKey: 'BootstrapVersion', OutputValue: '28' }],
      },
    ],
  });
  ec2.on(DescribeAvailabilityZonesCommand).resolves({ AvailabilityZones: ZONES });
  ec2.on(DescribeInstanceTypeOfferingsCommand).resolves({
    InstanceTypeOfferings: [
      { InstanceType: 'p5en.48xlarge', LocationType: 'availability-zone-id', Location: 'use1-az4' },
      { InstanceType: 'p5en.48xlarge', LocationType: 'availability-zone-id', Location: 'use1-az6' },
    ],
  });
  ec2.on(DescribeInstanceTypesCommand).resolves({ InstanceTypes: [{ InstanceType: 'p5en.48xlarge', VCpuInfo: { DefaultVCpus: 192 } }] });
  quotas.on(GetServiceQuotaCommand).resolves({ Quota: { QuotaCode: 'L-417A185B', Value: 384 } });
  bedrock.on(GetInferenceProfileCommand).resolves({
    models: [
      { modelArn: 'arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0' },
      { modelArn: 'arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0' },
    ],
  } as never);
  bedrock.on(GetFoundationModelAvailabilityCommand).resolves({
    modelId: 'anthropic.claude-sonnet-4-5-20250929-v1:0',
    agreementAvailability: { status: 'AVAILABLE' },
    authorizationStatus: 'AUTHORIZED',
    entitlementAvailability: 'AVAILABLE',
    regionAvailability: 'AVAILABLE',
  });
});

describe('raiden doctor', () => {
  it('passes when the account is ready, and says what it checked', async () => {
    const { code, stdout, line } = await doctor(GOOD);
    expect(code, stdout).toBe(0);
    expect(line('credentials')).toContain(`arn:aws:iam::${ACCOUNT}:user/deployer (account ${ACCOUNT})`);
    expect(line('region')).toMatch(/pass {2}region +us-east-1/u);
    expect(line('cdk bootstrap')).toContain('CDKToolkit UPDATE_COMPLETE, version 28');
    expect(line('zones')).toContain('us-east-1b (use1-az4), us-east-1d (use1-az6) offer p5en.48xlarge');
    expect(line('vCPU quota')).toContain('Running On-Demand P instances (L-417A185B) is 384 vCPUs; maxInstances 1 x 192 vCPUs');
    expect(line('reservation')).toMatch(/^ {2}skip/u);
    expect(line('bedrock')).toContain('access granted for anthropic.claude-sonnet-4-5-20250929-v1:0');
    expect(stdout).toContain('raiden doctor: every check passed.');
    expect(bedrock.commandCalls(GetInferenceProfileCommand)[0]?.args[0].input.inferenceProfileIdentifier).toBe(
      'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
    );
  });

  it('fails without credentials, still checks the configuration, and lists every other check as skipped', async () => {
    sts.on(GetCallerIdentityCommand).rejects(notFound('Could not load credentials from any providers', 'CredentialsProviderError'));
    const { code, line, stdout } = await doctor([...GOOD, '-c', 'layout=bogus']);
    expect(code).toBe(1);
    expect(line('credentials')).toMatch(
      /fail.*no usable AWS credentials: CredentialsProviderError[\s\S]*fix: run aws configure or aws sso login/u,
    );
    expect(line('region')).toMatch(/^ {2}skip {2}region +us-east-1: not checked with EC2 \(needs credentials\)/u);
    expect(line('configuration')).toMatch(/^ {2}fail {2}configuration +.*layout "bogus" is invalid/u);
    for (const check of ['cdk bootstrap', 'zones', 'vCPU quota', 'reservation', 'S3 endpoint', 'bedrock'])
      expect(line(check)).toMatch(/^ {2}skip .*not checked \(needs credentials, a usable region, a valid configuration\)$/u);
    expect(stdout).toContain('raiden doctor: 2 check(s) failed');
    expect(ec2.calls()).toHaveLength(0);
  });

  it('without a region, says how to set one and still checks credentials and the configuration', async () => {
    vi.stubEnv('AWS_REGION', '');
    vi.stubEnv('AWS_DEFAULT_REGION', '');
    vi.stubEnv('AWS_PROFILE', '');
    vi.stubEnv('AWS_CONFIG_FILE', join(tmpdir(), 'raiden-doctor-no-config', 'config'));
    try {
      const { code, line } = await doctor(['-c', 'availabilityZones=us-east-1b']);
      expect(code).toBe(1);
      expect(line('credentials')).toMatch(/^ {2}pass/u);
      expect(line('region')).toMatch(/fail {2}region +no AWS region is configured[\s\S]*fix: pass -c region=<region> \(or --region\)/u);
      expect(line('configuration')).toMatch(/^ {2}pass/u);
      expect(line('zones')).toMatch(/^ {2}skip .*not checked \(needs a usable region\)$/u);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('fails for credentials of another account than -c account', async () => {
    const { code, line } = await doctor([...GOOD, '-c', 'account=210987654321']);
    expect(code).toBe(1);
    expect(line('credentials')).toContain(`the credentials are for account ${ACCOUNT}`);
  });

  it('fails for a region that is not enabled, or not a region', async () => {
    const disabled = await doctor(['-c', 'region=af-south-1', '-c', 'availabilityZones=af-south-1a']);
    expect(disabled.code).toBe(1);
    expect(disabled.line('region')).toMatch(/af-south-1 is not enabled for this account[\s\S]*fix: enable it/u);
    const unknown = await doctor(['-c', 'region=us-east-9', '-c', 'availabilityZones=us-east-9a']);
    expect(unknown.line('region')).toMatch(/us-east-9 is not an AWS region[\s\S]*fix: use one of us-east-1, af-south-1/u);
  });

  it('fails without the CDK bootstrap stack and gives the bootstrap command', async () => {
    cloudFormation.on(DescribeStacksCommand).rejects(notFound('Stack with id CDKToolkit does not exist', 'ValidationError'));
    const { code, line } = await doctor(GOOD);
    expect(code).toBe(1);
    expect(line('cdk bootstrap')).toMatch(/no CDKToolkit stack in us-east-1[\s\S]*fix: npx cdk bootstrap aws:\/\/123456789012\/us-east-1/u);
  });

  it('names the zones that offer the instance type when a configured zone does not, by zone ID', async () => {
    const { code, line } = await doctor(['-c', 'region=us-east-1', '-c', 'availabilityZones=us-east-1a,us-east-1b']);
    expect(code).toBe(1);
    expect(line('zones')).toBe(
      '  fail  zones          us-east-1a (use1-az1) do(es) not offer p5en.48xlarge; p5en.48xlarge is offered in us-east-1b (use1-az4), ' +
        'us-east-1d (use1-az6)\n' +
        '                       fix: deploy with -c availabilityZones=us-east-1b,us-east-1d',
    );
    expect(ec2.commandCalls(DescribeInstanceTypeOfferingsCommand)[0]?.args[0].input).toEqual({
      LocationType: 'availability-zone-id',
      Filters: [{ Name: 'instance-type', Values: ['p5en.48xlarge'] }],
    });
  });

  it('without availabilityZones, says which to set; the other checks still run', async () => {
    const { code, line } = await doctor(['-c', 'region=us-east-1']);
    expect(code).toBe(1);
    expect(line('zones')).toMatch(/availabilityZones is not set;[\s\S]*fix: deploy with -c availabilityZones=us-east-1b,us-east-1d/u);
    expect(line('vCPU quota')).toMatch(/^ {2}pass/u);
  });

  it('fails when the vCPU quota cannot hold maxInstances, with the increase command; an unset quota reads the AWS default', async () => {
    quotas.on(GetServiceQuotaCommand).rejects(notFound('The quota has no applied value', 'NoSuchResourceException'));
    quotas.on(GetAWSDefaultServiceQuotaCommand).resolves({ Quota: { QuotaCode: 'L-417A185B', Value: 0 } });
    const { code, line } = await doctor([...GOOD, '-c', 'maxInstances=2']);
    expect(code).toBe(1);
    expect(line('vCPU quota')).toMatch(
      /is 0 vCPUs; maxInstances 2 x 192 vCPUs of p5en\.48xlarge need 384[\s\S]*fix: aws service-quotas request-service-quota-increase --region us-east-1 --service-code ec2 --quota-code L-417A185B --desired-value 384/u,
    );
  });

  it('checks the spot quota for spot capacity', async () => {
    quotas.on(GetServiceQuotaCommand).resolves({ Quota: { Value: 192 } });
    const { code, line } = await doctor([...GOOD, '-c', 'capacity=spot']);
    expect(code).toBe(0);
    expect(line('vCPU quota')).toContain('All P instances Spot Instance Requests (L-7212CCBC)');
    expect(quotas.commandCalls(GetServiceQuotaCommand)[0]?.args[0].input).toEqual({ ServiceCode: 'ec2', QuotaCode: 'L-7212CCBC' });
  });

  describe('a Capacity Block', () => {
    const block = ['-c', 'region=us-east-1', '-c', 'capacity=capacity-block', '-c', 'capacityReservationId=cr-0123456789abcdef0'];
    const reservation = {
      CapacityReservationId: 'cr-0123456789abcdef0',
      InstanceType: 'p5en.48xlarge',
      AvailabilityZone: 'us-east-1d',
      ReservationType: 'capacity-block',
      TotalInstanceCount: 1,
      State: 'scheduled',
      StartDate: new Date('2026-03-01T11:30:00Z'),
      EndDate: new Date('2026-03-02T11:30:00Z'),
    } as const;

    it('passes when it is scheduled or active in the one configured zone', async () => {
      ec2.on(DescribeCapacityReservationsCommand).resolves({ CapacityReservations: [reservation] });
      const { code, line, stdout } = await doctor([...block, '-c', 'availabilityZones=us-east-1d']);
      expect(code, stdout).toBe(0);
      expect(line('reservation')).toContain(
        'cr-0123456789abcdef0: Capacity Block of 1 x p5en.48xlarge in us-east-1d, scheduled, starts 2026-03-01T11:30:00.000Z',
      );
      expect(line('vCPU quota')).toMatch(/^ {2}skip/u);
    });

    it('fails when it is in another zone, expired, or smaller than maxInstances', async () => {
      ec2.on(DescribeCapacityReservationsCommand).resolves({ CapacityReservations: [{ ...reservation, State: 'expired' }] });
      const { code, line } = await doctor([...block, '-c', 'availabilityZones=us-east-1b', '-c', 'maxInstances=2']);
      expect(code).toBe(1);
      expect(line('reservation')).toMatch(
        /it is expired; it is in us-east-1d, but availabilityZones is us-east-1b; it holds 1 instance\(s\), fewer than maxInstances 2[\s\S]*fix: .*-c availabilityZones=us-east-1d; deploy with -c maxInstances=1/u,
      );
    });

    it('fails when it does not exist in the region', async () => {
      ec2
        .on(DescribeCapacityReservationsCommand)
        .rejects(notFound("The capacity reservation ID 'cr-0123456789abcdef0' does not exist", 'InvalidCapacityReservationId.NotFound'));
      const { code, line } = await doctor([...block, '-c', 'availabilityZones=us-east-1d']);
      expect(code).toBe(1);
      expect(line('reservation')).toMatch(/cr-0123456789abcdef0 cannot be read in us-east-1: InvalidCapacityReservationId\.NotFound/u);
    });
  });

  it('fails for a Bedrock model without access, naming what is missing', async () => {
    bedrock.on(GetFoundationModelAvailabilityCommand).resolves({
      modelId: 'anthropic.claude-sonnet-4-5-20250929-v1:0',
      agreementAvailability: { status: 'NOT_AVAILABLE' },
      authorizationStatus: 'NOT_AUTHORIZED',
      entitlementAvailability: 'AVAILABLE',
      regionAvailability: 'AVAILABLE',
    });
    const { code, line } = await doctor(GOOD);
    expect(code).toBe(1);
    expect(line('bedrock')).toMatch(
      /anthropic\.claude-sonnet-4-5-20250929-v1:0: authorization NOT_AUTHORIZED, agreement NOT_AVAILABLE[\s\S]*fix: request access in the Bedrock console of us-east-1/u,
    );
  });

  it('an imported VPC must have an S3 gateway endpoint, or every weight download crosses the NAT gateway', async () => {
    ec2.on(DescribeVpcEndpointsCommand).resolves({ VpcEndpoints: [] });
    const args = [...GOOD, '-c', 'vpcId=vpc-0123456789abcdef0', '-c', 'subnetIds=subnet-0123456789abcdef0'];
    const { code, line } = await doctor(args);
    expect(code).toBe(1);
    expect(line('S3 endpoint')).toMatch(/has no S3 gateway endpoint[\s\S]*fix: aws ec2 create-vpc-endpoint .*--vpc-endpoint-type Gateway/u);
    ec2.on(DescribeVpcEndpointsCommand).resolves({ VpcEndpoints: [{ VpcEndpointId: 'vpce-0abc' }] });
    expect((await doctor(args)).line('S3 endpoint')).toMatch(/^ {2}pass.*vpce-0abc/u);
  });

  it('reports an invalid setting as a failed configuration check', async () => {
    const { code, line } = await doctor([...GOOD, '-c', 'layout=tp5']);
    expect(code).toBe(1);
    expect(line('configuration')).toMatch(/layout "tp5" is invalid/u);
  });
});

describe('raiden deploy and destroy --region', () => {
  it('deploy checks and deploys the region it names', async () => {
    const { out, streams } = io();
    const code = await main(['deploy', '--region', 'af-south-1', '-c', 'availabilityZones=af-south-1a'], streams);
    expect(code).toBe(1);
    expect(out.stdout).toMatch(/fail {2}region +af-south-1 is not enabled for this account/u);
  });

  it('goes to cdk as the region setting; a different -c region beside it is refused', () => {
    expect(withRegionContext(['--region', 'eu-west-1', '--profile', 'ops'])).toEqual(['--profile', 'ops', '-c', 'region=eu-west-1']);
    expect(withRegionContext(['--region=eu-west-1', '-c', 'region=eu-west-1'])).toEqual(['-c', 'region=eu-west-1']);
    expect(() => withRegionContext(['--region', 'eu-west-1', '-c', 'region=us-east-1'])).toThrow(
      '--region eu-west-1 and -c region=us-east-1 disagree: give the region once',
    );
    expect(() => withRegionContext(['--region'])).toThrow(/--region needs a region name/u);
  });

  it("destroy's help speaks of destroying, not deploying", async () => {
    const { out, streams } = io();
    expect(await main(['destroy', '--help'], streams)).toBe(0);
    expect(out.stdout).toContain('--profile <name>         the AWS profile to destroy with');
    expect(out.stdout).toContain('--region <region>        the region to remove the stacks from');
    expect(out.stdout).toMatch(/--force +skip cdk's confirmation before it deletes the stacks/u);
    expect(out.stdout).not.toMatch(/deploy with|--require-approval/u);
  });
});

describe('raiden deploy runs raiden doctor first', () => {
  it('does not deploy when a check fails', async () => {
    quotas.on(GetServiceQuotaCommand).resolves({ Quota: { Value: 0 } });
    const { out, streams } = io();
    const code = await main(['deploy', ...GOOD], streams);
    expect(code).toBe(1);
    expect(out.stdout).toMatch(/fail {2}vCPU quota/u);
    expect(out.stderr).toContain('raiden: not deploying: fix what raiden doctor reports above, or pass --skip-doctor');
    expect(out.stderr).not.toContain('raiden: cdk deploy');
  });
});
