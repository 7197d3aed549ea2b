/**
 * FleetStatus: is every server of every in-service instance answering /health_generate? Polled by the
 * state machine's Wait loop until ready, or until the deadline, when it fails the run (and the workflow
 * still tears the fleet down).
 */
import { checkHealth, discoverEndpoints } from '../fleet/fleet.ts';
import { awsClients, ENV, fleetServers, requiredEnv } from './handler-env.ts';
import { logger } from './observability.ts';
import { sglangApiKey } from './sglang-api-key.ts';
import type { FleetStatusEvent, FleetStatusOutput } from '../contract/workflow-payloads.ts';

export type { FleetStatusEvent, FleetStatusOutput };

export class FleetNotReadyError extends Error {
  override readonly name = 'FleetNotReady';
}

export async function handler(event: FleetStatusEvent): Promise<FleetStatusOutput> {
  const group = requiredEnv(ENV.autoScalingGroup);
  const { autoScaling, ec2 } = awsClients();
  const fleet = await discoverEndpoints(autoScaling, ec2, group, fleetServers());
  const health = await checkHealth(fleet.endpoints, await sglangApiKey());
  const healthy = health.filter((check) => check.healthy).length;
  const ready = fleet.endpoints.length > 0 && healthy === fleet.endpoints.length;
  const log = logger({ handler: 'fleet-status', runId: event.runId });
  log.info(ready ? 'fleet ready' : 'fleet not ready yet', {
    launched: fleet.launched,
    inService: fleet.instances.length,
    healthy,
    endpoints: fleet.endpoints.length,
    health,
  });
  if (!ready && Date.now() > Date.parse(event.deadline)) {
    const waiting = health.filter((check) => !check.healthy).map((check) => `${check.endpoint} (${check.detail})`);
    throw new FleetNotReadyError(
      `the fleet was not ready by ${event.deadline}: ${fleet.launched} instance(s) launched, ${fleet.instances.length} in service` +
        (waiting.length > 0 ? `, not answering /health_generate: ${waiting.join(', ')}` : '') +
        `. Check the ServerLogGroup logs and the instances' raiden:state tag; raise readinessTimeoutMinutes for large models`,
    );
  }
  return { ready, instances: fleet.instances.length, healthy, endpoints: fleet.endpoints.length };
}
