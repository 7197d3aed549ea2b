/** FleetUp: raise the GPU fleet to the instances the run asks for, and set the readiness deadline. */
import { scaleFleetUp } from '../fleet/fleet.ts';
import { awsClients, ENV, requiredEnv } from './handler-env.ts';
import { logger } from './observability.ts';
import type { FleetUpEvent, FleetUpOutput } from '../contract/workflow-payloads.ts';

export type { FleetUpEvent, FleetUpOutput };

export async function handler(event: FleetUpEvent): Promise<FleetUpOutput> {
  const group = requiredEnv(ENV.autoScalingGroup);
  const startedAt = new Date(Date.now());
  const change = await scaleFleetUp(awsClients().autoScaling, group, event.instances);
  const deadline = new Date(startedAt.getTime() + event.readinessTimeoutSeconds * 1000).toISOString();
  logger({ handler: 'fleet-up', runId: event.runId }).info('fleet scaled up', { group, ...change, wanted: event.instances, deadline });
  return { previous: change.previous, desired: change.desired, deadline, startedAt: startedAt.toISOString() };
}
