/**
 * What the auto-scaling group's activity history says about a fleet that is not ready: launches that
 * fail (no capacity, vCPU quota, a zone without the instance type) and instances that gave up their boot
 * and scaled themselves in. Without this the group retries a failing launch silently and a run waits for
 * its whole readiness deadline, about 70 minutes, to report "0 instance(s) launched".
 *
 * A failed launch is an activity with StatusCode "Failed" whose Description starts "Launching a new EC2
 * instance" and whose StatusMessage is EC2's own reason, for example "We currently do not have sufficient
 * p5en.48xlarge capacity in the Availability Zone you requested (us-east-1a). ... Launching EC2 instance
 * failed." (DescribeScalingActivities; https://docs.aws.amazon.com/autoscaling/ec2/userguide/ts-as-instancelaunchfailure.html).
 * Pure: the handler passes the activities and the time.
 */
import type { Activity } from '@aws-sdk/client-auto-scaling';

/** How a launch failed, which decides how long the run keeps waiting and what the fix is. */
export type LaunchFailureKind = 'quota' | 'capacity' | 'unsupported' | 'other';

export interface LaunchFailure {
  readonly kind: LaunchFailureKind;
  readonly at: Date;
  readonly zone?: string;
  /** EC2's reason as the activity states it. */
  readonly message: string;
}

export interface BootFailure {
  readonly instanceId: string;
  readonly at: Date;
  readonly cause: string;
}

export interface LaunchActivityReport {
  /** Failed launches since the run raised the fleet, oldest first. */
  readonly launchFailures: readonly LaunchFailure[];
  /** Instances launched for this run that then scaled themselves in or powered off. */
  readonly bootFailures: readonly BootFailure[];
  /** The newest activity since the run raised the fleet, for the log and the timeout message. */
  readonly latest?: string;
}

/**
 * Zonal failures (capacity, an unsupported zone) may clear when the group tries its next zone, so they
 * fail a run only once they have lasted this long with no instance launched. A vCPU quota is account-wide
 * and fails it at once.
 */
export const LAUNCH_FAILURE_GRACE_MS = 5 * 60_000;

/** Activity times come from AWS, the run's start from the Lambda clock: allow for skew between them. */
const CLOCK_SKEW_MS = 60_000;

const KIND_PATTERNS: readonly [LaunchFailureKind, RegExp][] = [
  ['quota', /vCPU limit|VcpuLimitExceeded|InstanceLimitExceeded|MaxSpotInstanceCountExceeded|instance limit|quota/iu],
  ['capacity', /InsufficientInstanceCapacity|InsufficientCapacity|sufficient .*capacity|no Spot capacity|capacity.*not available/iu],
  ['unsupported', /not supported|Unsupported/iu],
];

export function classifyLaunchFailure(message: string): LaunchFailureKind {
  return KIND_PATTERNS.find(([, pattern]) => pattern.test(message))?.[0] ?? 'other';
}

const LAUNCHING = /^Launching a new EC2 instance/u;
const LAUNCHED_ID = /^Launching a new EC2 instance: (i-[0-9a-f]+)/u;
const TERMINATING_ID = /^Terminating EC2 instance: (i-[0-9a-f]+)/u;
// TerminateInstanceInAutoScalingGroup (raiden-scale-in) is "a user request"; FleetDown's SetDesiredCapacity
// reads "a difference between desired and actual capacity" instead. A powered-off instance fails its EC2
// health check.
const SELF_ENDED = /in response to a user request|EC2 health check indicating it has been terminated or stopped/u;

export function readLaunchActivities(activities: readonly Activity[], since: Date): LaunchActivityReport {
  const recent = activities
    .filter((activity) => activity.StartTime !== undefined && activity.StartTime.getTime() >= since.getTime() - CLOCK_SKEW_MS)
    .sort((a, b) => (a.StartTime as Date).getTime() - (b.StartTime as Date).getTime());
  const launchedForRun = new Set(recent.map((activity) => LAUNCHED_ID.exec(activity.Description ?? '')?.[1]).filter(Boolean));
  const launchFailures: LaunchFailure[] = recent
    .filter((activity) => activity.StatusCode === 'Failed' && LAUNCHING.test(activity.Description ?? ''))
    .map((activity) => {
      const message = (activity.StatusMessage ?? activity.Description ?? 'no reason given').trim();
      return { kind: classifyLaunchFailure(message), at: activity.StartTime as Date, zone: zoneOf(activity), message };
    });
  const bootFailures: BootFailure[] = recent.flatMap((activity) => {
    const instanceId = TERMINATING_ID.exec(activity.Description ?? '')?.[1];
    if (instanceId === undefined || !launchedForRun.has(instanceId) || !SELF_ENDED.test(activity.Cause ?? '')) return [];
    return [{ instanceId, at: activity.StartTime as Date, cause: activity.Cause ?? '' }];
  });
  const newest = recent.at(-1);
  return {
    launchFailures,
    bootFailures,
    ...(newest ? { latest: `${newest.StatusCode ?? 'unknown'}: ${newest.StatusMessage ?? newest.Description ?? ''}`.trim() } : {}),
  };
}

export type FleetVerdict =
  { readonly fail: false } | { readonly fail: true; readonly error: 'FleetLaunchFailed' | 'FleetBootFailed'; readonly message: string };

export interface FleetSituation {
  readonly group: string;
  /** Instances of the group that are not terminating: launches still under way or in service. */
  readonly activeInstances: number;
  readonly report: LaunchActivityReport;
  readonly now: Date;
  readonly logGroupHint: string;
}

/**
 * Whether a fleet that is not ready can still become ready. It cannot when no instance is left and either
 * the launches fail (at once for a quota, after LAUNCH_FAILURE_GRACE_MS for zonal reasons) or the
 * instances launched for this run gave up their boot.
 */
export function judgeFleet(situation: FleetSituation): FleetVerdict {
  const { report, group } = situation;
  if (situation.activeInstances > 0) return { fail: false };
  const boot = report.bootFailures.at(-1);
  if (boot !== undefined) {
    return {
      fail: true,
      error: 'FleetBootFailed',
      message:
        `instance ${boot.instanceId} of ${group} gave up its boot and scaled itself in at ${boot.at.toISOString()} ` +
        `(${boot.cause.trim()}). Its boot log is the ${boot.instanceId}/user-data stream of ${situation.logGroupHint}`,
    };
  }
  const failures = report.launchFailures;
  const first = failures[0];
  if (first === undefined) return { fail: false };
  const quota = failures.find((failure) => failure.kind === 'quota');
  const lasting = situation.now.getTime() - first.at.getTime() >= LAUNCH_FAILURE_GRACE_MS;
  if (quota === undefined && !lasting) return { fail: false };
  const kind = quota?.kind ?? (failures.at(-1) as LaunchFailure).kind;
  const reasons = [...new Set(failures.map((failure) => `${failure.zone ? `${failure.zone}: ` : ''}${failure.message}`))].slice(-3);
  return {
    fail: true,
    error: 'FleetLaunchFailed',
    message:
      `${group} could not launch an instance (${failures.length} failed attempt(s) since ${first.at.toISOString()}). ` +
      `AWS said: ${reasons.map((reason) => `"${reason}"`).join('; ')}. ${LAUNCH_FIXES[kind]}`,
  };
}

const LAUNCH_FIXES: Record<LaunchFailureKind, string> = {
  quota:
    "The account's vCPU quota for this instance family is too low: request maxInstances x the instance type's vCPUs in Service " +
    'Quotas ("Running On-Demand P instances", L-417A185B, or "All P Spot Instance Requests", L-7212CCBC, for spot); ' +
    'npx raiden doctor checks it',
  capacity:
    "AWS has no free capacity for the instance type in the group's zones now: start the run again later, add zones that offer " +
    'the type (npx raiden doctor lists them), or buy a Capacity Block (-c capacity=capacity-block)',
  unsupported:
    'The instance type is not offered in a zone of the group: deploy with -c availabilityZones=<zones that offer it>; ' +
    'npx raiden doctor lists them',
  other: 'Fix what AWS names in the launch template or group settings and deploy again; npx raiden doctor checks the usual causes',
};

function zoneOf(activity: Activity): string | undefined {
  try {
    const details = JSON.parse(activity.Details ?? '{}') as Record<string, unknown>;
    const zone = details['Availability Zone'];
    return typeof zone === 'string' ? zone : undefined;
  } catch {
    return undefined;
  }
}
