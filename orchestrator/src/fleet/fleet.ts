/**
 * The GPU fleet as the orchestrator sees it: an auto-scaling group whose in-service instances serve the
 * layout's SGLang ports on their private addresses.
 */
import {
  DescribeAutoScalingGroupsCommand,
  DescribeScalingActivitiesCommand,
  paginateDescribeAutoScalingGroups,
  SetDesiredCapacityCommand,
  type Activity,
  type AutoScalingClient,
  type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { paginateListExecutions, type SFNClient } from '@aws-sdk/client-sfn';
import { sendHttp } from '../llm/http-client.ts';
import { PROJECT_TAG, type FleetServer } from '../contract/deployed-names.ts';

export class FleetNotFoundError extends Error {
  override readonly name = 'FleetNotFound';
}

async function describeGroup(client: AutoScalingClient, name: string): Promise<AutoScalingGroup> {
  const { AutoScalingGroups } = await client.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }));
  const group = AutoScalingGroups?.[0];
  if (group === undefined)
    throw new FleetNotFoundError(`auto-scaling group ${name} does not exist: deploy the fleet stack (raiden deploy)`);
  return group;
}

export interface CapacityChange {
  readonly previous: number;
  readonly desired: number;
  readonly max: number;
}

/**
 * Raises the group to `wanted` instances (capped at its maximum). Never lowers it: another run may be
 * using a larger fleet.
 */
export async function scaleFleetUp(client: AutoScalingClient, name: string, wanted: number): Promise<CapacityChange> {
  const group = await describeGroup(client, name);
  const previous = group.DesiredCapacity ?? 0;
  const max = group.MaxSize ?? wanted;
  const desired = Math.max(previous, Math.min(wanted, max));
  if (desired !== previous)
    await client.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: name, DesiredCapacity: desired, HonorCooldown: false }));
  return { previous, desired, max };
}

/** Every auto-scaling group this app made in the client's region (any stack prefix), found by the project tag. */
export async function projectFleets(client: AutoScalingClient): Promise<AutoScalingGroup[]> {
  const groups: AutoScalingGroup[] = [];
  for await (const page of paginateDescribeAutoScalingGroups(
    { client },
    { Filters: [{ Name: `tag:${PROJECT_TAG.key}`, Values: [PROJECT_TAG.value] }] },
  )) {
    groups.push(...(page.AutoScalingGroups ?? []));
  }
  return groups;
}

/** Sets the group's desired capacity to zero, terminating every instance. */
export async function scaleFleetToZero(client: AutoScalingClient, name: string): Promise<CapacityChange> {
  return scaleGroupToZero(client, await describeGroup(client, name));
}

/** Scales a group already described (as `projectFleets` lists them) to zero, if it is not there yet. */
export async function scaleGroupToZero(client: AutoScalingClient, group: AutoScalingGroup): Promise<CapacityChange> {
  const previous = group.DesiredCapacity ?? 0;
  if (previous !== 0)
    await client.send(
      new SetDesiredCapacityCommand({ AutoScalingGroupName: group.AutoScalingGroupName, DesiredCapacity: 0, HonorCooldown: false }),
    );
  return { previous, desired: 0, max: group.MaxSize ?? 0 };
}

export interface FleetInstance {
  readonly id: string;
  readonly privateIp: string;
}

export interface FleetEndpoints {
  /** Instances the group has launched and not yet terminated, in any lifecycle state. */
  readonly launched: number;
  /** Of those, the ones not terminating: launches under way or in service. */
  readonly active: number;
  readonly instances: readonly FleetInstance[];
  /** `http://<private ip>:<port>` for every in-service instance and server of the layout. */
  readonly endpoints: readonly string[];
}

/** The SGLang endpoints of the group's in-service instances, from their private addresses and the layout's ports. */
export async function discoverEndpoints(
  autoScaling: AutoScalingClient,
  ec2: EC2Client,
  name: string,
  servers: readonly FleetServer[],
): Promise<FleetEndpoints> {
  const group = await describeGroup(autoScaling, name);
  const members = group.Instances ?? [];
  const active = members.filter((instance) => !(instance.LifecycleState ?? '').startsWith('Terminat')).length;
  const ids = members
    .filter((instance) => instance.LifecycleState === 'InService' && instance.InstanceId)
    .map((instance) => instance.InstanceId as string);
  if (ids.length === 0) return { launched: members.length, active, instances: [], endpoints: [] };
  const { Reservations } = await ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }));
  const instances = (Reservations ?? [])
    .flatMap((reservation) => reservation.Instances ?? [])
    .filter((instance) => instance.InstanceId && instance.PrivateIpAddress && instance.State?.Name === 'running')
    .map((instance) => ({ id: instance.InstanceId as string, privateIp: instance.PrivateIpAddress as string }))
    .sort((a, b) => (a.id < b.id ? -1 : 1));
  return {
    launched: members.length,
    active,
    instances,
    endpoints: instances.flatMap((instance) => servers.map((server) => `http://${instance.privateIp}:${server.port}`)),
  };
}

/** The group's newest scaling activities (launches, terminations and why they failed), newest first. */
export async function recentActivities(client: AutoScalingClient, name: string): Promise<Activity[]> {
  const { Activities } = await client.send(new DescribeScalingActivitiesCommand({ AutoScalingGroupName: name, MaxRecords: 50 }));
  return Activities ?? [];
}

export interface EndpointHealth {
  readonly endpoint: string;
  readonly healthy: boolean;
  readonly detail: string;
}

/** `GET /health_generate` on each endpoint: 200 once the model is loaded and generates (503 while loading). */
export async function checkHealth(endpoints: readonly string[], apiKey: string | undefined, timeoutMs = 5_000): Promise<EndpointHealth[]> {
  const headers: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  return Promise.all(
    endpoints.map(async (endpoint) => {
      try {
        const response = await sendHttp(new URL(`${endpoint}/health_generate`), 'GET', headers, undefined, timeoutMs);
        return { endpoint, healthy: response.status === 200, detail: `HTTP ${response.status}` };
      } catch (error) {
        return { endpoint, healthy: false, detail: (error as Error).message };
      }
    }),
  );
}

/** Executions of the state machine still running (the caller's own included when it is one). */
export async function runningExecutions(client: SFNClient, stateMachineArn: string): Promise<string[]> {
  const arns: string[] = [];
  for await (const page of paginateListExecutions({ client }, { stateMachineArn, statusFilter: 'RUNNING' })) {
    arns.push(...(page.executions ?? []).map((execution) => execution.executionArn ?? ''));
  }
  return arns;
}
