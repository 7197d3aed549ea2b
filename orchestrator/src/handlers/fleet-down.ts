/** FleetDown: scale the GPU fleet to zero after the run, whatever happened inside it. */
import { scaleFleetToZero } from '../fleet/fleet.ts';
import { awsClients, ENV, requiredEnv } from './handler-env.ts';
import { logger } from './observability.ts';
import type { FleetDownEvent } from '../contract/workflow-payloads.ts';

export type { FleetDownEvent };

export async function handler(event: FleetDownEvent): Promise<{ previous: number; desired: number }> {
  const group = requiredEnv(ENV.autoScalingGroup);
  const change = await scaleFleetToZero(awsClients().autoScaling, group);
  logger({ handler: 'fleet-down', runId: event.runId }).info('fleet scaled to zero', { group, previous: change.previous });
  return { previous: change.previous, desired: change.desired };
}
