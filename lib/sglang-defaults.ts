/**
 * SGLang facts shared by the layout validator, the user-data renderer, the fleet's security group and
 * (later) the orchestrator. One place, so a port or metric name never drifts between them.
 */

/** HTTP port of the first server; presets number further servers upwards from here. */
export const SGLANG_BASE_PORT = 30_000;

/**
 * Explicit NCCL ports start here, one block of NCCL_PORT_STRIDE per server. SGLang otherwise picks a
 * random port near its HTTP port, and two servers on one instance can then collide.
 */
export const NCCL_PORT_BASE = 40_000;
export const NCCL_PORT_STRIDE = 100;

/** Prometheus gauges the idle watchdog sums (exposed with --enable-metrics at /metrics). */
export const SGLANG_LOAD_METRICS = ['sglang:num_running_reqs', 'sglang:num_queue_reqs'] as const;

/** Returns 200 only once the server can generate; 503 while weights load. */
export const SGLANG_READY_PATH = '/health_generate';

export const DEFAULT_SGLANG_IMAGE = 'lmsysorg/sglang:v0.5.6.post1';
export const DEFAULT_SGLANG_PIP_VERSION = '0.5.6.post1';

/** Flags the layout sets itself; extraArgs may not repeat them. */
export const MANAGED_SGLANG_FLAGS = [
  '--model-path',
  '--served-model-name',
  '--tp-size',
  '--tp',
  '--dp-size',
  '--dp',
  '--port',
  '--host',
  '--nccl-port',
  '--api-key',
  '--enable-metrics',
  '--mem-fraction-static',
  '--context-length',
] as const;

/** Where the DLAMI mounts the instance-store NVMe; models are cached below it. */
export const NVME_MOUNT = '/opt/dlami/nvme';

/**
 * AWS Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04): NVIDIA driver, Docker with the
 * NVIDIA container toolkit, AWS CLI and the SSM agent, and it mounts the instance store at NVME_MOUNT.
 */
export const DEFAULT_DLAMI_SSM_PARAMETER = '/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id';
