/**
 * What every orchestrator Lambda reads from its environment (set by the CDK stack) and the AWS clients it
 * uses, made once per container.
 */
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { ENV, type FleetServer } from '../contract/deployed-names.ts';

export { ENV, type FleetServer };

export class MissingEnvironmentError extends Error {
  override readonly name = 'MissingEnvironment';
}

export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new MissingEnvironmentError(`environment variable ${name} is not set: the orchestrator stack sets it on every Lambda; redeploy`);
  }
  return value;
}

export function numberEnv(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return process.env[name] !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}

export function fleetServers(): FleetServer[] {
  const text = requiredEnv(ENV.servers);
  try {
    return JSON.parse(text) as FleetServer[];
  } catch {
    throw new MissingEnvironmentError(`${ENV.servers} is not JSON (${text.slice(0, 80)}): redeploy the orchestrator stack`);
  }
}

interface Clients {
  readonly s3: S3Client;
  readonly autoScaling: AutoScalingClient;
  readonly ec2: EC2Client;
  readonly sfn: SFNClient;
}

let clients: Clients | undefined;

export function awsClients(): Clients {
  if (clients === undefined) {
    const endpoint = process.env[ENV.s3Endpoint];
    clients = {
      s3: new S3Client(endpoint ? { endpoint, forcePathStyle: true } : {}),
      autoScaling: new AutoScalingClient({}),
      ec2: new EC2Client({}),
      sfn: new SFNClient({}),
    };
  }
  return clients;
}

/** Forget the clients (tests change the environment between runs). */
export function resetAwsClients(): void {
  clients = undefined;
}
