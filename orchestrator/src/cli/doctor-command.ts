/**
 * `raiden doctor`: what a deployment needs from the AWS account, checked before anything is deployed or
 * billed. Every check prints pass, fail (with the fix) or skip (does not apply, or needs what a failed check
 * lacks); any fail exits 1.
 * It reads the same settings `cdk deploy` would (cdk.json context plus `-c key=value`), so what it checks
 * is what will be deployed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BedrockClient,
  GetFoundationModelAvailabilityCommand,
  GetInferenceProfileCommand,
  type GetFoundationModelAvailabilityCommandOutput,
} from '@aws-sdk/client-bedrock';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  DescribeAvailabilityZonesCommand,
  DescribeCapacityReservationsCommand,
  DescribeInstanceTypesCommand,
  DescribeRegionsCommand,
  DescribeVpcEndpointsCommand,
  EC2Client,
  paginateDescribeInstanceTypeOfferings,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { GetAWSDefaultServiceQuotaCommand, GetServiceQuotaCommand, ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { ConfigError, parseConfig, type RaidenConfig } from '../../../lib/config.ts';
import type { CliIo } from './cli-io.ts';
import { EXIT, UsageError } from './usage-error.ts';

export const PROJECT_ROOT = join(import.meta.dirname, '../../..');

/** The default CDK bootstrap stack (`cdk bootstrap` without --toolkit-stack-name). */
const BOOTSTRAP_STACK = 'CDKToolkit';

/** vCPU quotas by instance family (Service Quotas, service code ec2); both count vCPUs of running instances. */
const VCPU_QUOTAS: Readonly<Record<string, { readonly onDemand: string; readonly spot: string; readonly name: string }>> = {
  p: { onDemand: 'L-417A185B', spot: 'L-7212CCBC', name: 'P instances' },
  g: { onDemand: 'L-DB2E81BA', spot: 'L-3819A6DF', name: 'G and VT instances' },
};

export type CheckStatus = 'pass' | 'fail' | 'skip';

export interface CheckResult {
  readonly check: string;
  readonly status: CheckStatus;
  readonly detail: string;
  /** What to do about a failure. */
  readonly fix?: string;
}

export interface DoctorOptions {
  /** CDK context from the command line (`-c key=value`), on top of cdk.json's. */
  readonly context: Readonly<Record<string, string>>;
  readonly region?: string | undefined;
  /** A named profile of the AWS config, as `cdk --profile` takes it. */
  readonly profile?: string | undefined;
}

interface Clients {
  readonly ec2: EC2Client;
  readonly cloudFormation: CloudFormationClient;
  readonly quotas: ServiceQuotasClient;
  readonly bedrock: BedrockClient;
}

/** `key=value` pairs of `-c` / `--context` as cdk takes them. */
export function parseContextArgs(pairs: readonly string[]): Record<string, string> {
  const context: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`context "${pair}" is not key=value: write it as -c key=value, for example -c layout=tp4x2`);
    context[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return context;
}

export async function runDoctor(options: DoctorOptions, io: CliIo): Promise<number> {
  const results = await doctorChecks(options);
  // Wide enough for every fixed check name; a Bedrock model id runs longer and just pushes its line on.
  const width = 'configuration'.length;
  for (const result of results) {
    io.stdout.write(`  ${result.status.padEnd(4)}  ${result.check.padEnd(width)}  ${result.detail}\n`);
    if (result.fix) io.stdout.write(`        ${' '.repeat(width)}  fix: ${result.fix}\n`);
  }
  const failed = results.filter((result) => result.status === 'fail').length;
  io.stdout.write(
    failed === 0 ? `raiden doctor: every check passed.\n` : `raiden doctor: ${failed} check(s) failed; fix them before deploying.\n`,
  );
  return failed === 0 ? EXIT.ok : EXIT.failure;
}

/**
 * Every check, in order, each listed: a check that needs what an earlier one found missing (credentials, a
 * region, a valid configuration) is listed as skipped with that reason, and the configuration, which needs
 * no AWS, is checked whatever else failed.
 */
export async function doctorChecks(options: DoctorOptions): Promise<CheckResult[]> {
  const cdkContext = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> }).context;
  const context: Record<string, unknown> = { ...cdkContext, ...options.context };
  const results: CheckResult[] = [];
  const regionSetting = typeof context.region === 'string' ? context.region : options.region;
  const profile = options.profile ? { profile: options.profile } : {};
  const region = await resolveRegion(profile, regionSetting);
  // Credentials do not depend on the region; STS answers in any, so they are checked even without one.
  const sts = new STSClient({ ...profile, region: region ?? STS_FALLBACK_REGION });
  const clients: Clients | undefined =
    region === undefined
      ? undefined
      : {
          ec2: new EC2Client({ ...profile, region }),
          cloudFormation: new CloudFormationClient({ ...profile, region }),
          quotas: new ServiceQuotasClient({ ...profile, region }),
          bedrock: new BedrockClient({ ...profile, region }),
        };

  const identity = await checkCredentials(sts, context);
  results.push(identity.result);
  let regionUsable = false;
  if (region === undefined) {
    results.push({
      check: 'region',
      status: 'fail',
      detail: 'no AWS region is configured',
      fix: 'pass -c region=<region> (or --region), set AWS_REGION, or configure one for your profile (aws configure)',
    });
  } else if (clients === undefined || identity.account === undefined) {
    results.push({ check: 'region', status: 'skip', detail: `${region}: not checked with EC2 (needs credentials)` });
  } else {
    const regionResult = await checkRegion(clients, region);
    results.push(regionResult);
    regionUsable = regionResult.status === 'pass';
  }

  const zonesSet = context.availabilityZones !== undefined;
  let config: RaidenConfig | undefined;
  try {
    // Without zones, parse with a stand-in zone so every other check still runs; the zone check says what to set.
    const parseContext = zonesSet || region === undefined ? context : { ...context, availabilityZones: `${region}a` };
    config = parseConfig(parseContext, {
      ...(identity.account !== undefined ? { CDK_DEFAULT_ACCOUNT: identity.account } : {}),
      ...(region !== undefined ? { CDK_DEFAULT_REGION: region } : {}),
    }).config;
    results.push({
      check: 'configuration',
      status: 'pass',
      detail: `${config.instanceType} x${config.maxInstances} (${config.capacity}), layout ${config.layoutName}, region ${config.region}`,
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    results.push({
      check: 'configuration',
      status: 'fail',
      detail: error.problems.join('; '),
      fix: 'correct the settings named above in cdk.json or the -c arguments',
    });
  }

  const missing = [
    ...(identity.account === undefined ? ['credentials'] : []),
    ...(!regionUsable ? ['a usable region'] : []),
    ...(config === undefined ? ['a valid configuration'] : []),
  ];
  if (missing.length > 0 || clients === undefined || config === undefined || identity.account === undefined) {
    const detail = `not checked (needs ${missing.join(', ')})`;
    const ids = config?.bedrockModelIds ?? [];
    for (const check of [...ACCOUNT_CHECKS, ...(ids.length > 0 ? ids.map((id) => `bedrock ${id}`) : ['bedrock'])])
      results.push({ check, status: 'skip', detail });
    return results;
  }
  results.push(await checkBootstrap(clients, identity.account, config.region));
  results.push(await checkZones(clients, config, zonesSet));
  results.push(await checkQuota(clients, config));
  results.push(await checkReservation(clients, config));
  results.push(await checkGatewayEndpoint(clients, config));
  results.push(...(await checkBedrock(clients, config)));
  return results;
}

/** Checks of the account after the configuration, in the order they run; the Bedrock models follow them. */
const ACCOUNT_CHECKS = ['cdk bootstrap', 'zones', 'vCPU quota', 'reservation', 'S3 endpoint'] as const;

/** Where STS is asked for the caller's identity when no region is configured (any region answers it). */
const STS_FALLBACK_REGION = 'us-east-1';

/** The region from -c region / --region, else the SDK's (AWS_REGION, the profile); undefined when none is set. */
async function resolveRegion(profile: { profile?: string }, setting: string | undefined): Promise<string | undefined> {
  // An empty AWS_REGION is no region.
  if (setting !== undefined && setting !== '') return setting;
  try {
    return (await new STSClient(profile).config.region()) || undefined;
  } catch {
    return undefined;
  }
}

async function checkCredentials(sts: STSClient, context: Record<string, unknown>): Promise<{ result: CheckResult; account?: string }> {
  try {
    const { Account, Arn } = await sts.send(new GetCallerIdentityCommand({}));
    const account = Account ?? '';
    if (typeof context.account === 'string' && context.account !== account) {
      return {
        result: {
          check: 'credentials',
          status: 'fail',
          detail: `the credentials are for account ${account} (${Arn}), but -c account=${context.account}`,
          fix: `use credentials of account ${context.account} (AWS_PROFILE), or drop -c account`,
        },
      };
    }
    return { result: { check: 'credentials', status: 'pass', detail: `${Arn} (account ${account})` }, account };
  } catch (error) {
    return {
      result: {
        check: 'credentials',
        status: 'fail',
        detail: `no usable AWS credentials: ${describe(error)}`,
        fix: 'run aws configure or aws sso login, or set AWS_PROFILE',
      },
    };
  }
}

async function checkRegion(clients: Clients, region: string): Promise<CheckResult> {
  try {
    const { Regions } = await clients.ec2.send(new DescribeRegionsCommand({ AllRegions: true }));
    const found = (Regions ?? []).find((candidate) => candidate.RegionName === region);
    if (found === undefined) {
      const names = (Regions ?? []).map((candidate) => candidate.RegionName).join(', ');
      return { check: 'region', status: 'fail', detail: `${region} is not an AWS region`, fix: `use one of ${names}` };
    }
    if (found.OptInStatus === 'not-opted-in') {
      return {
        check: 'region',
        status: 'fail',
        detail: `${region} is not enabled for this account`,
        fix: `enable it (AWS console, Account, AWS Regions) or deploy to another region with -c region=...`,
      };
    }
    return { check: 'region', status: 'pass', detail: region };
  } catch (error) {
    return {
      check: 'region',
      status: 'fail',
      detail: `EC2 in ${region} did not answer: ${describe(error)}`,
      fix: 'check the region name (-c region=us-east-1) and your network',
    };
  }
}

async function checkBootstrap(clients: Clients, account: string, region: string): Promise<CheckResult> {
  const fix = `npx cdk bootstrap aws://${account}/${region}`;
  try {
    const { Stacks } = await clients.cloudFormation.send(new DescribeStacksCommand({ StackName: BOOTSTRAP_STACK }));
    const stack = Stacks?.[0];
    const status = stack?.StackStatus ?? 'unknown';
    if (!/_COMPLETE$/u.test(status) || /ROLLBACK_COMPLETE$|^DELETE/u.test(status)) {
      return { check: 'cdk bootstrap', status: 'fail', detail: `stack ${BOOTSTRAP_STACK} is ${status}`, fix };
    }
    const version = stack?.Outputs?.find((output) => output.OutputKey === 'BootstrapVersion')?.OutputValue;
    return { check: 'cdk bootstrap', status: 'pass', detail: `${BOOTSTRAP_STACK} ${status}${version ? `, version ${version}` : ''}` };
  } catch (error) {
    if (/does not exist/u.test(describe(error))) {
      return { check: 'cdk bootstrap', status: 'fail', detail: `no ${BOOTSTRAP_STACK} stack in ${region}`, fix };
    }
    return { check: 'cdk bootstrap', status: 'fail', detail: `cannot read stack ${BOOTSTRAP_STACK}: ${describe(error)}`, fix };
  }
}

/**
 * Zone names map to zone IDs differently in each account, and an instance type is offered in some zone
 * IDs of a region only, so the offering is looked up by zone ID (DescribeInstanceTypeOfferings with
 * location type availability-zone-id) and mapped back to this account's names.
 */
async function checkZones(clients: Clients, config: RaidenConfig, zonesSet: boolean): Promise<CheckResult> {
  try {
    const { AvailabilityZones } = await clients.ec2.send(
      new DescribeAvailabilityZonesCommand({ Filters: [{ Name: 'zone-type', Values: ['availability-zone'] }] }),
    );
    const idOf = new Map((AvailabilityZones ?? []).map((zone) => [zone.ZoneName ?? '', zone.ZoneId ?? '']));
    const offered = new Set<string>();
    for await (const page of paginateDescribeInstanceTypeOfferings(
      { client: clients.ec2 },
      { LocationType: 'availability-zone-id', Filters: [{ Name: 'instance-type', Values: [config.instanceType] }] },
    )) {
      for (const offering of page.InstanceTypeOfferings ?? []) if (offering.Location) offered.add(offering.Location);
    }
    const offeredNames = [...idOf].filter(([, id]) => offered.has(id)).map(([name]) => name);
    const label = (name: string) => `${name} (${idOf.get(name) ?? 'unknown id'})`;
    if (offeredNames.length === 0) {
      return {
        check: 'zones',
        status: 'fail',
        detail: `${config.instanceType} is offered in no zone of ${config.region}`,
        fix: 'deploy to a region that offers it (-c region=...) or choose another instanceType',
      };
    }
    const offers = `${config.instanceType} is offered in ${offeredNames.map(label).join(', ')}`;
    if (!zonesSet) {
      return {
        check: 'zones',
        status: 'fail',
        detail: `availabilityZones is not set; ${offers}`,
        fix: `deploy with -c availabilityZones=${offeredNames.join(',')}${reservationNote(config)}`,
      };
    }
    const unknown = config.availabilityZones.filter((zone) => !idOf.has(zone));
    const without = config.availabilityZones.filter((zone) => idOf.has(zone) && !offered.has(idOf.get(zone) ?? ''));
    if (unknown.length > 0 || without.length > 0) {
      const problems = [
        ...(unknown.length > 0 ? [`${unknown.join(', ')} not zone(s) of ${config.region}`] : []),
        ...(without.length > 0 ? [`${without.map(label).join(', ')} do(es) not offer ${config.instanceType}`] : []),
      ];
      return {
        check: 'zones',
        status: 'fail',
        detail: `${problems.join('; ')}; ${offers}`,
        fix: `deploy with -c availabilityZones=${offeredNames.join(',')}${reservationNote(config)}`,
      };
    }
    return { check: 'zones', status: 'pass', detail: `${config.availabilityZones.map(label).join(', ')} offer ${config.instanceType}` };
  } catch (error) {
    return { check: 'zones', status: 'fail', detail: `cannot list the zones of ${config.region}: ${describe(error)}`, fix: ec2ReadFix() };
  }
}

function reservationNote(config: RaidenConfig): string {
  return config.capacity === 'capacity-block' || config.capacity === 'capacity-reservation'
    ? ` (with ${config.capacity}: only the reservation's zone)`
    : '';
}

async function checkQuota(clients: Clients, config: RaidenConfig): Promise<CheckResult> {
  const family = VCPU_QUOTAS[config.instanceType.charAt(0)];
  if (config.capacity === 'capacity-block') {
    return { check: 'vCPU quota', status: 'skip', detail: 'a Capacity Block is bought for its instances; the reservation check covers it' };
  }
  if (family === undefined) {
    return { check: 'vCPU quota', status: 'skip', detail: `no vCPU quota known for the family of ${config.instanceType}` };
  }
  const spot = config.capacity === 'spot';
  const code = spot ? family.spot : family.onDemand;
  const quotaName = `${spot ? 'All' : 'Running On-Demand'} ${family.name}${spot ? ' Spot Instance Requests' : ''} (${code})`;
  try {
    const { InstanceTypes } = await clients.ec2.send(
      new DescribeInstanceTypesCommand({ InstanceTypes: [config.instanceType as _InstanceType] }),
    );
    const vcpus = InstanceTypes?.[0]?.VCpuInfo?.DefaultVCpus ?? 0;
    const needed = vcpus * config.maxInstances;
    const value = await quotaValue(clients, code);
    const detail = `${quotaName} is ${value} vCPUs; maxInstances ${config.maxInstances} x ${vcpus} vCPUs of ${config.instanceType} need ${needed}`;
    if (value >= needed) return { check: 'vCPU quota', status: 'pass', detail: `${detail} (other instances of the family share it)` };
    return {
      check: 'vCPU quota',
      status: 'fail',
      detail,
      fix:
        `aws service-quotas request-service-quota-increase --region ${config.region} --service-code ec2 --quota-code ${code} ` +
        `--desired-value ${needed} (or lower maxInstances)`,
    };
  } catch (error) {
    return {
      check: 'vCPU quota',
      status: 'fail',
      detail: `cannot read ${quotaName}: ${describe(error)}`,
      fix: 'allow servicequotas:GetServiceQuota and ec2:DescribeInstanceTypes, or check the quota in the Service Quotas console',
    };
  }
}

async function quotaValue(clients: Clients, code: string): Promise<number> {
  try {
    const { Quota } = await clients.quotas.send(new GetServiceQuotaCommand({ ServiceCode: 'ec2', QuotaCode: code }));
    return Quota?.Value ?? 0;
  } catch (error) {
    // An account that never changed a quota has no applied value; the AWS default is then what applies.
    if ((error as { name?: string }).name !== 'NoSuchResourceException') throw error;
    const { Quota } = await clients.quotas.send(new GetAWSDefaultServiceQuotaCommand({ ServiceCode: 'ec2', QuotaCode: code }));
    return Quota?.Value ?? 0;
  }
}

/**
 * A Capacity Block or On-Demand Capacity Reservation sits in one Availability Zone, and instances launched
 * in another zone cannot use it ("Capacity Blocks are delivered as targeted Capacity Reservations in a
 * single Availability Zone", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/capacity-blocks-using.html).
 */
async function checkReservation(clients: Clients, config: RaidenConfig): Promise<CheckResult> {
  const id = config.capacityReservationId;
  if (id === undefined) return { check: 'reservation', status: 'skip', detail: `capacity ${config.capacity} uses no reservation` };
  const wantedType = config.capacity === 'capacity-block' ? 'capacity-block' : 'default';
  try {
    const { CapacityReservations } = await clients.ec2.send(new DescribeCapacityReservationsCommand({ CapacityReservationIds: [id] }));
    const reservation = CapacityReservations?.[0];
    if (reservation === undefined) throw Object.assign(new Error(`${id} was not found`), { name: 'InvalidCapacityReservationId.NotFound' });
    const problems: string[] = [];
    const fixes: string[] = [];
    const state = reservation.State ?? 'unknown';
    if (state !== 'active' && state !== 'scheduled') {
      problems.push(`it is ${state}`);
      fixes.push('buy or create a new one and deploy with its id');
    }
    if ((reservation.ReservationType ?? 'default') !== wantedType) {
      problems.push(`it is a ${reservation.ReservationType ?? 'default'} reservation, not ${wantedType}`);
      fixes.push(`deploy with -c capacity=${reservation.ReservationType === 'capacity-block' ? 'capacity-block' : 'capacity-reservation'}`);
    }
    if (reservation.InstanceType !== config.instanceType) {
      problems.push(`it reserves ${reservation.InstanceType}, not ${config.instanceType}`);
      fixes.push(`deploy with -c instanceType=${reservation.InstanceType}`);
    }
    const zone = reservation.AvailabilityZone ?? 'unknown';
    if (config.availabilityZones.length !== 1 || config.availabilityZones[0] !== zone) {
      problems.push(`it is in ${zone}, but availabilityZones is ${config.availabilityZones.join(',')}`);
      fixes.push(`deploy with -c availabilityZones=${zone}`);
    }
    const total = reservation.TotalInstanceCount ?? 0;
    if (total < config.maxInstances) {
      problems.push(`it holds ${total} instance(s), fewer than maxInstances ${config.maxInstances}`);
      fixes.push(`deploy with -c maxInstances=${total}`);
    }
    const when =
      state === 'scheduled' && reservation.StartDate
        ? `, starts ${reservation.StartDate.toISOString()}`
        : reservation.EndDate
          ? `, ends ${reservation.EndDate.toISOString()}`
          : '';
    const summary = `${id}: ${wantedType === 'capacity-block' ? 'Capacity Block' : 'Capacity Reservation'} of ${total} x ${reservation.InstanceType} in ${zone}, ${state}${when}`;
    if (problems.length > 0)
      return { check: 'reservation', status: 'fail', detail: `${summary}; ${problems.join('; ')}`, fix: fixes.join('; ') };
    return { check: 'reservation', status: 'pass', detail: summary };
  } catch (error) {
    return {
      check: 'reservation',
      status: 'fail',
      detail: `${id} cannot be read in ${config.region}: ${describe(error)}`,
      fix: `check capacityReservationId and the region (aws ec2 describe-capacity-reservations --region ${config.region})`,
    };
  }
}

/**
 * Weights from S3 stay off the NAT gateway (about 0.045 USD per GB processed) only through an S3 gateway
 * endpoint, which has no charge; the stack creates one in its own VPC, an imported VPC must have one.
 */
async function checkGatewayEndpoint(clients: Clients, config: RaidenConfig): Promise<CheckResult> {
  if (config.vpcId === undefined)
    return { check: 'S3 endpoint', status: 'skip', detail: 'the stack creates its VPC with an S3 gateway endpoint' };
  try {
    const { VpcEndpoints } = await clients.ec2.send(
      new DescribeVpcEndpointsCommand({
        Filters: [
          { Name: 'vpc-id', Values: [config.vpcId] },
          { Name: 'service-name', Values: [`com.amazonaws.${config.region}.s3`] },
          { Name: 'vpc-endpoint-type', Values: ['Gateway'] },
        ],
      }),
    );
    if ((VpcEndpoints ?? []).length > 0) {
      return {
        check: 'S3 endpoint',
        status: 'pass',
        detail: `${config.vpcId} has S3 gateway endpoint ${VpcEndpoints?.[0]?.VpcEndpointId}`,
      };
    }
    return {
      check: 'S3 endpoint',
      status: 'fail',
      detail: `${config.vpcId} has no S3 gateway endpoint: every weight download would cross the NAT gateway`,
      fix:
        `aws ec2 create-vpc-endpoint --region ${config.region} --vpc-id ${config.vpcId} --vpc-endpoint-type Gateway ` +
        `--service-name com.amazonaws.${config.region}.s3 --route-table-ids <route tables of the subnets>`,
    };
  } catch (error) {
    return {
      check: 'S3 endpoint',
      status: 'fail',
      detail: `cannot read the endpoints of ${config.vpcId}: ${describe(error)}`,
      fix: ec2ReadFix(),
    };
  }
}

/** Model access is granted per foundation model; an inference profile is checked through the models it routes to. */
async function checkBedrock(clients: Clients, config: RaidenConfig): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const id of config.bedrockModelIds) {
    const check = `bedrock ${id}`;
    try {
      const models = await foundationModels(clients, id);
      const denied: string[] = [];
      for (const model of models) {
        const availability = await clients.bedrock.send(new GetFoundationModelAvailabilityCommand({ modelId: model }));
        const missing = missingAccess(availability);
        if (missing.length > 0) denied.push(`${model}: ${missing.join(', ')}`);
      }
      if (denied.length === 0) {
        results.push({ check, status: 'pass', detail: `access granted for ${models.join(', ')} in ${config.region}` });
      } else {
        results.push({
          check,
          status: 'fail',
          detail: denied.join('; '),
          fix: `request access in the Bedrock console of ${config.region} (Model access; Anthropic models also need the use-case form), or remove it from bedrockModelIds`,
        });
      }
    } catch (error) {
      results.push({
        check,
        status: 'fail',
        detail: `cannot check it in ${config.region}: ${describe(error)}`,
        fix: 'check the id (aws bedrock list-inference-profiles / list-foundation-models) and that the credentials may call bedrock:Get*',
      });
    }
  }
  return results;
}

async function foundationModels(clients: Clients, id: string): Promise<string[]> {
  const foundation = /:foundation-model\/(.+)$/u.exec(id)?.[1];
  if (foundation !== undefined) return [foundation];
  const isProfile = id.includes(':inference-profile/') || /^(us|eu|apac|jp|au|ca|us-gov|global)\.[^.]+\..+/u.test(id);
  if (!isProfile) return [id];
  const { models } = await clients.bedrock.send(new GetInferenceProfileCommand({ inferenceProfileIdentifier: id }));
  const ids = (models ?? [])
    .map((model) => /foundation-model\/(.+)$/u.exec(model.modelArn ?? '')?.[1])
    .filter((model) => model !== undefined);
  return [...new Set(ids)];
}

function missingAccess(availability: GetFoundationModelAvailabilityCommandOutput): string[] {
  const missing: string[] = [];
  if (availability.authorizationStatus !== 'AUTHORIZED') missing.push(`authorization ${availability.authorizationStatus}`);
  if (availability.entitlementAvailability !== 'AVAILABLE') missing.push(`entitlement ${availability.entitlementAvailability}`);
  if (availability.agreementAvailability?.status !== 'AVAILABLE')
    missing.push(`agreement ${availability.agreementAvailability?.status ?? 'unknown'}`);
  if (availability.regionAvailability !== 'AVAILABLE') missing.push(`region ${availability.regionAvailability}`);
  return missing;
}

function ec2ReadFix(): string {
  return 'allow ec2:Describe* for the credentials, or check the network';
}

function describe(error: unknown): string {
  const err = error as { name?: string; message?: string };
  return `${err.name ?? 'Error'}: ${err.message ?? String(error)}`;
}
