/** FleetUp: raise the GPU fleet to the instances the run asks for, and set the readiness deadline. */
import { scaleFleetUp } from './fleet.ts';
import { awsClients, ENV, requiredEnv } from './handler-env.ts';
import { logger } from './observability.ts';

export interface FleetUpEvent {
  readonly runId: string;
  readonly instances: number;
  readonly readinessTimeoutSeconds: number;
}

export interface FleetUpOutput {
  readonly previous: number;
  readonly desired: number;
  /** ISO time after which FleetStatus gives up waiting for the servers. */
  readonly deadline: string;
}

export async function handler(event: FleetUpEvent): Promise<FleetUpOutput> {
  const group = requiredEnv(ENV.autoScalingGroup);
  const change = await scaleFleetUp(awsClients().autoScaling, group, event.instances);
  const deadline = new Date(Date.now() + event.readinessTimeoutSeconds * 1000).toISOString();
  logger({ handler: 'fleet-up', runId: event.runId }).info('fleet scaled up', { group, ...change, wanted: event.instances, deadline });
  return { previous: change.previous, desired: change.desired, deadline };
}
