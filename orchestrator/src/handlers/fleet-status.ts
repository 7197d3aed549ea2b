/**
 * FleetStatus: is every server of every in-service instance answering /health_generate? Polled by the
 * state machine's Wait loop until ready, or until the deadline, when it fails the run (and the workflow
 * still tears the fleet down). A fleet that cannot become ready fails the run at once instead: launches
 * that keep failing (no capacity, vCPU quota, a zone without the instance type), or instances that gave up
 * their boot, read from the group's scaling activities.
 */
import { checkHealth, discoverEndpoints, recentActivities, scaleFleetToZero } from '../fleet/fleet.ts';
import { judgeFleet, readLaunchActivities, type LaunchActivityReport } from '../fleet/launch-activities.ts';
import { awsClients, ENV, fleetServers, requiredEnv } from './handler-env.ts';
import { logger } from './observability.ts';
import { sglangApiKey } from './sglang-api-key.ts';
import type { FleetStatusEvent, FleetStatusOutput } from '../contract/workflow-payloads.ts';

export type { FleetStatusEvent, FleetStatusOutput };

export class FleetNotReadyError extends Error {
  override readonly name = 'FleetNotReady';
}

/** The fleet cannot become ready: its launches fail or its instances gave up their boot. */
export class FleetCannotStartError extends Error {
  constructor(
    override readonly name: 'FleetLaunchFailed' | 'FleetBootFailed',
    message: string,
  ) {
    super(message);
  }
}

const LOG_GROUP_HINT = "the fleet stack's ServerLogGroup";

export async function handler(event: FleetStatusEvent): Promise<FleetStatusOutput> {
  const group = requiredEnv(ENV.autoScalingGroup);
  const { autoScaling, ec2 } = awsClients();
  const log = logger({ handler: 'fleet-status', runId: event.runId });
  const fleet = await discoverEndpoints(autoScaling, ec2, group, fleetServers());
  const health = await checkHealth(fleet.endpoints, await sglangApiKey());
  const healthy = health.filter((check) => check.healthy).length;
  const ready = fleet.endpoints.length > 0 && healthy === fleet.endpoints.length;
  // Only a group with no instance left can have nothing coming; then its activities say why.
  let activities: LaunchActivityReport | undefined;
  if (!ready && fleet.active === 0) {
    activities = readLaunchActivities(await recentActivities(autoScaling, group), new Date(event.since));
    const verdict = judgeFleet({
      group,
      activeInstances: fleet.active,
      report: activities,
      now: new Date(Date.now()),
      logGroupHint: LOG_GROUP_HINT,
    });
    if (verdict.fail) {
      if (verdict.error === 'FleetLaunchFailed') {
        // Nothing runs in the group: stop it retrying a launch that cannot succeed, whatever the teardown mode.
        const change = await scaleFleetToZero(autoScaling, group);
        log.info('fleet launches failed; group set to zero', { group, previous: change.previous, failures: activities.launchFailures });
      }
      throw new FleetCannotStartError(verdict.error, `${verdict.message}.`);
    }
  }
  log.info(ready ? 'fleet ready' : 'fleet not ready yet', {
    launched: fleet.launched,
    inService: fleet.instances.length,
    healthy,
    endpoints: fleet.endpoints.length,
    health,
    ...(activities?.latest ? { latestActivity: activities.latest } : {}),
  });
  if (!ready && Date.now() > Date.parse(event.deadline)) {
    const waiting = health.filter((check) => !check.healthy).map((check) => `${check.endpoint} (${check.detail})`);
    throw new FleetNotReadyError(
      `the fleet was not ready by ${event.deadline}: ${fleet.launched} instance(s) launched, ${fleet.instances.length} in service` +
        (waiting.length > 0 ? `, not answering /health_generate: ${waiting.join(', ')}` : '') +
        (activities?.latest ? `; the group's latest activity: ${activities.latest}` : '') +
        `. Check the ServerLogGroup logs and the instances' raiden:state tag; raise readinessTimeoutMinutes for large models`,
    );
  }
  return { ready, instances: fleet.instances.length, healthy, endpoints: fleet.endpoints.length };
}
