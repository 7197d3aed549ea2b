/**
 * Facts about the GPU instance types the fleet can run on. One table, so the layout validator, the
 * config defaults and the docs' cost table agree.
 *
 * Prices are approximate us-east-1 on-demand Linux USD per hour as of late 2025, after the June 2025 price
 * cut for P4/P5 instances (p5en.48xlarge was about 98 before it). They feed estimates and docs, never bills:
 * check the EC2 Pricing API for your region.
 */
export interface InstanceFacts {
  /** NVIDIA GPUs on the instance. */
  readonly gpus: number;
  /** GPU model and memory per GPU, for docs and estimates. */
  readonly gpuModel: string;
  readonly gpuMemoryGiB: number;
  /** vCPUs, which is what the EC2 P/G-instance quotas count. */
  readonly vcpus: number;
  /** Approximate on-demand USD per hour in us-east-1. */
  readonly onDemandUsdPerHour: number;
  /** Service Quotas code of the on-demand vCPU quota this family counts against. */
  readonly vcpuQuotaCode: string;
}

/** Service Quotas: Running On-Demand P instances, and G and VT instances (both counted in vCPUs). */
export const P_INSTANCE_VCPU_QUOTA_CODE = 'L-417A185B';
export const G_INSTANCE_VCPU_QUOTA_CODE = 'L-DB2E81BA';
const P_QUOTA = P_INSTANCE_VCPU_QUOTA_CODE;
const G_QUOTA = G_INSTANCE_VCPU_QUOTA_CODE;

export const INSTANCE_TYPES: Readonly<Record<string, InstanceFacts>> = {
  'p5en.48xlarge': { gpus: 8, gpuModel: 'H200', gpuMemoryGiB: 141, vcpus: 192, onDemandUsdPerHour: 63.3, vcpuQuotaCode: P_QUOTA },
  'p5.48xlarge': { gpus: 8, gpuModel: 'H100', gpuMemoryGiB: 80, vcpus: 192, onDemandUsdPerHour: 55.0, vcpuQuotaCode: P_QUOTA },
  'p4de.24xlarge': { gpus: 8, gpuModel: 'A100', gpuMemoryGiB: 80, vcpus: 96, onDemandUsdPerHour: 27.4, vcpuQuotaCode: P_QUOTA },
  'p4d.24xlarge': { gpus: 8, gpuModel: 'A100', gpuMemoryGiB: 40, vcpus: 96, onDemandUsdPerHour: 21.96, vcpuQuotaCode: P_QUOTA },
  'g6e.48xlarge': { gpus: 8, gpuModel: 'L40S', gpuMemoryGiB: 48, vcpus: 192, onDemandUsdPerHour: 30.13, vcpuQuotaCode: G_QUOTA },
  'g6e.12xlarge': { gpus: 4, gpuModel: 'L40S', gpuMemoryGiB: 48, vcpus: 48, onDemandUsdPerHour: 10.49, vcpuQuotaCode: G_QUOTA },
  'g6e.xlarge': { gpus: 1, gpuModel: 'L40S', gpuMemoryGiB: 48, vcpus: 4, onDemandUsdPerHour: 1.86, vcpuQuotaCode: G_QUOTA },
  'g6.48xlarge': { gpus: 8, gpuModel: 'L4', gpuMemoryGiB: 24, vcpus: 192, onDemandUsdPerHour: 13.35, vcpuQuotaCode: G_QUOTA },
  'g6.12xlarge': { gpus: 4, gpuModel: 'L4', gpuMemoryGiB: 24, vcpus: 48, onDemandUsdPerHour: 4.6, vcpuQuotaCode: G_QUOTA },
  'g5.48xlarge': { gpus: 8, gpuModel: 'A10G', gpuMemoryGiB: 24, vcpus: 192, onDemandUsdPerHour: 16.29, vcpuQuotaCode: G_QUOTA },
  'g5.12xlarge': { gpus: 4, gpuModel: 'A10G', gpuMemoryGiB: 24, vcpus: 48, onDemandUsdPerHour: 5.67, vcpuQuotaCode: G_QUOTA },
  'g5.xlarge': { gpus: 1, gpuModel: 'A10G', gpuMemoryGiB: 24, vcpus: 4, onDemandUsdPerHour: 1.01, vcpuQuotaCode: G_QUOTA },
};

export const DEFAULT_INSTANCE_TYPE = 'p5en.48xlarge';

export function instanceFacts(instanceType: string): InstanceFacts | undefined {
  return INSTANCE_TYPES[instanceType];
}
