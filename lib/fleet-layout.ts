/**
 * Server layouts on one GPU instance: presets and the checks every layout must pass before synth.
 * Pure functions, no CDK: the config parser and the tests call them directly.
 */
import { MANAGED_SGLANG_FLAGS, NCCL_PORT_BASE, NCCL_PORT_STRIDE, SGLANG_BASE_PORT } from './sglang-defaults.ts';
import { MODEL_REFERENCE_HELP, parseModelSource } from './model-source.ts';

export const LAYOUT_PRESETS = ['tp8', 'tp4x2', 'dp8'] as const;
export type LayoutPreset = (typeof LAYOUT_PRESETS)[number];

/** A validated server with every default filled in. */
export interface ServerSpec {
  readonly name: string;
  readonly model: string;
  readonly gpus: readonly number[];
  readonly tp: number;
  readonly dp: number;
  readonly port: number;
  readonly ncclPort: number;
  readonly extraArgs: readonly string[];
}

/** One SGLang server as a user writes it in the `servers` context list: NCCL port and extra args optional. */
export type ServerInput = Omit<ServerSpec, 'ncclPort' | 'extraArgs'> & {
  readonly ncclPort?: number;
  readonly extraArgs?: readonly string[];
};

export interface InstanceGpus {
  readonly instanceType: string;
  readonly gpuCount: number;
}

const SERVER_NAME_MAX = 31;
const SERVER_NAME = /^[a-z0-9][a-z0-9-]{0,30}$/;
// extraArgs land in a systemd ExecStart line: no quotes, spaces, `$`, `;` or other shell syntax.
const SAFE_ARG = /^[A-Za-z0-9_.,:=/+@-]+$/;
const MIN_PORT = 1024;
const MAX_PORT = 65_535;

/**
 * The servers of a preset. `models[i]` serves server i; a preset with more servers than models reuses
 * the first model.
 */
export function presetServers(layout: LayoutPreset, models: readonly string[]): ServerInput[] {
  const model = (index: number): string => models[index] ?? models[0] ?? '';
  const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);
  switch (layout) {
    case 'tp8':
      return [{ name: 'main', model: model(0), gpus: range(0, 8), tp: 8, dp: 1, port: SGLANG_BASE_PORT }];
    case 'tp4x2':
      return [
        { name: 'gpus0-3', model: model(0), gpus: range(0, 4), tp: 4, dp: 1, port: SGLANG_BASE_PORT },
        { name: 'gpus4-7', model: model(1), gpus: range(4, 4), tp: 4, dp: 1, port: SGLANG_BASE_PORT + 1 },
      ];
    case 'dp8':
      return [{ name: 'main', model: model(0), gpus: range(0, 8), tp: 1, dp: 8, port: SGLANG_BASE_PORT }];
  }
}

/** Fills in defaults: each server gets its own well-separated NCCL port unless it names one. */
export function withDefaults(servers: readonly ServerInput[]): ServerSpec[] {
  return servers.map((server, index) => ({
    ...server,
    gpus: [...server.gpus],
    ncclPort: server.ncclPort ?? NCCL_PORT_BASE + index * NCCL_PORT_STRIDE,
    extraArgs: [...(server.extraArgs ?? [])],
  }));
}

/**
 * Every problem with a layout, each naming the field, the value and the fix. Empty when the layout is
 * valid. `layoutName` says where the servers came from, for example "layout tp8" or "servers".
 */
export function layoutProblems(servers: readonly ServerSpec[], instance: InstanceGpus, layoutName: string): string[] {
  const problems: string[] = [];
  if (servers.length === 0) {
    return [`${layoutName} has no servers: give at least one server, or use layout=tp8`];
  }
  const gpusNeeded = new Set(servers.flatMap((s) => s.gpus)).size;
  const highestGpu = Math.max(...servers.flatMap((s) => s.gpus));
  if (gpusNeeded > instance.gpuCount || highestGpu + 1 > instance.gpuCount) {
    const needed = Math.max(gpusNeeded, highestGpu + 1);
    problems.push(
      `${layoutName} needs ${needed} GPUs but instanceType ${instance.instanceType} has ${instance.gpuCount}: ` +
        `choose an instance type with at least ${needed} GPUs (for example p5en.48xlarge) or a layout that fits ` +
        `${instance.gpuCount} GPUs`,
    );
  }
  const field = (index: number, key: string): string => `servers[${index}].${key}`;
  const names = new Map<string, number>();
  const gpuOwner = new Map<number, number>();
  const httpPorts = new Map<number, number>();
  const ncclPorts = new Map<number, number>();

  servers.forEach((server, i) => {
    if (!SERVER_NAME.test(server.name)) {
      problems.push(
        `${field(i, 'name')} "${server.name}" is not a valid server name: use 1-31 lowercase letters, digits ` +
          `and dashes, starting with a letter or digit`,
      );
    }
    const sameName = processNames(server)
      .map((name) => names.get(name))
      .find((owner) => owner !== undefined);
    if (sameName !== undefined) {
      problems.push(
        replicaCount(server) === 1 && replicaCount(servers[sameName] ?? server) === 1
          ? `${field(i, 'name')} "${server.name}" repeats servers[${sameName}].name: give each server its own name`
          : `${field(i, 'name')} "${server.name}" gives a process the same name as one of servers[${sameName}] ` +
              `(replicas are named <name>-0, <name>-1, ...): rename one of them`,
      );
    }
    processNames(server).forEach((name) => names.has(name) || names.set(name, i));
    if (!parseModelSource(server.model)) {
      problems.push(`${field(i, 'model')} "${server.model}" is not a model reference: ${MODEL_REFERENCE_HELP}`);
    }
    if (server.gpus.length === 0) {
      problems.push(`${field(i, 'gpus')} is empty: list the GPU indices this server uses, for example [0,1,2,3]`);
    }
    const badIndex = server.gpus.filter((g) => !Number.isInteger(g) || g < 0 || g >= instance.gpuCount);
    if (badIndex.length > 0) {
      problems.push(
        `${field(i, 'gpus')} ${fmt(server.gpus)} has GPU ${badIndex.join(', ')} outside 0-${instance.gpuCount - 1} ` +
          `(${instance.instanceType} has ${instance.gpuCount} GPUs): use indices 0-${instance.gpuCount - 1}`,
      );
    }
    if (new Set(server.gpus).size !== server.gpus.length) {
      problems.push(`${field(i, 'gpus')} ${fmt(server.gpus)} lists a GPU twice: list each GPU once`);
    }
    for (const other of new Set(overlapOwners(server.gpus, gpuOwner))) {
      problems.push(
        `${field(i, 'gpus')} ${fmt(server.gpus)} overlaps servers[${other}].gpus ${fmt(servers[other]?.gpus ?? [])}: ` +
          `give each server its own GPUs`,
      );
    }
    server.gpus.forEach((g) => gpuOwner.has(g) || gpuOwner.set(g, i));

    if (!positiveInt(server.tp) || !positiveInt(server.dp)) {
      problems.push(`servers[${i}] tp ${server.tp} and dp ${server.dp} must be whole numbers of at least 1`);
    } else if (server.tp * server.dp !== server.gpus.length) {
      problems.push(
        `servers[${i}] tp ${server.tp} x dp ${server.dp} = ${server.tp * server.dp} but it has ` +
          `${server.gpus.length} GPUs ${fmt(server.gpus)}: make tp x dp equal the number of GPUs`,
      );
    }

    const replicas = replicaCount(server);
    for (const [key, port] of [
      ['port', server.port],
      ['ncclPort', server.ncclPort],
    ] as const) {
      if (!Number.isInteger(port) || port < MIN_PORT || port > MAX_PORT) {
        problems.push(`${field(i, key)} ${port} is not a usable port: use a whole number from ${MIN_PORT} to ${MAX_PORT}`);
      } else if (port + replicas - 1 > MAX_PORT) {
        problems.push(
          `${field(i, key)} ${port} leaves no room for ${replicas} replicas (one port each, up to ${port + replicas - 1}): ` +
            `use at most ${MAX_PORT - replicas + 1}`,
        );
      }
    }
    if (replicas > 1 && `${server.name}-${replicas - 1}`.length > SERVER_NAME_MAX) {
      problems.push(
        `${field(i, 'name')} "${server.name}" is too long for ${replicas} replicas named ${server.name}-0 to ` +
          `${server.name}-${replicas - 1}: use at most ${SERVER_NAME_MAX - 1 - String(replicas - 1).length} characters`,
      );
    }
    const samePort = firstOverlap(portRange(server.port, replicas), httpPorts);
    if (samePort !== undefined) {
      problems.push(
        `${field(i, 'port')} ${server.port}${rangeNote(server.port, replicas)} is also servers[${samePort}].port: give each ` +
          `server its own port (for example ${nextFreePort(httpPorts)})`,
      );
    }
    portRange(server.port, replicas).forEach((port) => httpPorts.has(port) || httpPorts.set(port, i));
    const sameNccl = firstOverlap(portRange(server.ncclPort, replicas), ncclPorts);
    if (sameNccl !== undefined) {
      problems.push(
        `${field(i, 'ncclPort')} ${server.ncclPort}${rangeNote(server.ncclPort, replicas)} is also servers[${sameNccl}].ncclPort: ` +
          `give each server its own NCCL port, ${NCCL_PORT_STRIDE} or more apart`,
      );
    }
    portRange(server.ncclPort, replicas).forEach((port) => ncclPorts.has(port) || ncclPorts.set(port, i));

    const managed = server.extraArgs.filter((arg) => isManagedFlag(arg));
    if (managed.length > 0) {
      problems.push(
        `${field(i, 'extraArgs')} sets ${managed.join(', ')}, which the layout manages: use the server's ` +
          `model, gpus, tp, dp, port and ncclPort fields, or the memFractionStatic/contextLength settings`,
      );
    }
    const unsafe = server.extraArgs.filter((arg) => !SAFE_ARG.test(arg));
    if (unsafe.length > 0) {
      problems.push(
        `${field(i, 'extraArgs')} ${JSON.stringify(unsafe)} contains spaces, quotes or shell characters: pass ` +
          `each flag and value as its own item, for example ["--chunked-prefill-size","8192"]`,
      );
    }
  });

  // A server's HTTP ports must not be any server's NCCL port (its own included).
  servers.forEach((server, i) => {
    const owner = firstOverlap(portRange(server.port, replicaCount(server)), ncclPorts);
    if (owner !== undefined) {
      problems.push(
        `${field(i, 'port')} ${server.port} collides with servers[${owner}].ncclPort: move the NCCL port away ` +
          `from every HTTP port (the defaults start at ${NCCL_PORT_BASE})`,
      );
    }
  });
  return problems;
}

/**
 * One SGLang process per data-parallel replica: server `name` with dp d becomes `name-0` ... `name-(d-1)`,
 * each on its own tp GPUs, HTTP port `port + k` and NCCL port `ncclPort + k`; a server with dp 1 is kept.
 *
 * SGLang's own --dp-size cannot be given an explicit NCCL port: DataParallelController.launch_dp_schedulers
 * (python/sglang/srt/managers/data_parallel_controller.py) calls PortArgs.init_new once per DP rank, which
 * returns server_args.nccl_port unchanged when it is set, and bind_port()s it while still holding the
 * previous rank's socket, so rank 1 fails with "Address already in use" (sgl-project/sglang pull requests
 * 10583 and 10620). Left unset, the ranks' ports are picked at random, freed and bound again later, which
 * races every other server starting on the instance (issue 37215: --dp 8 fails intermittently with
 * EADDRINUSE on one 8-GPU node, and eight separate servers avoid it). Separate servers keep one explicit,
 * distinct NCCL port each, crash and restart alone, and the orchestrator already spreads requests over
 * every endpoint, so nothing is lost by not using SGLang's in-process load balancer.
 */
export function replicaServers(servers: readonly ServerSpec[]): ServerSpec[] {
  return servers.flatMap((server) => {
    const replicas = replicaCount(server);
    if (replicas === 1) return [server];
    return Array.from({ length: replicas }, (_, k) => ({
      ...server,
      name: `${server.name}-${k}`,
      gpus: server.gpus.slice(k * server.tp, (k + 1) * server.tp),
      dp: 1,
      port: server.port + k,
      ncclPort: server.ncclPort + k,
    }));
  });
}

function replicaCount(server: ServerSpec): number {
  return positiveInt(server.dp) ? server.dp : 1;
}

function processNames(server: ServerSpec): string[] {
  const replicas = replicaCount(server);
  return replicas === 1 ? [server.name] : Array.from({ length: replicas }, (_, k) => `${server.name}-${k}`);
}

function portRange(first: number, count: number): number[] {
  return Array.from({ length: count }, (_, k) => first + k);
}

function firstOverlap(ports: readonly number[], owner: ReadonlyMap<number, number>): number | undefined {
  return ports.map((port) => owner.get(port)).find((o) => o !== undefined);
}

function rangeNote(first: number, count: number): string {
  return count > 1 ? ` (ports ${first}-${first + count - 1}, one per replica)` : '';
}

function nextFreePort(used: ReadonlyMap<number, number>): number {
  return Math.max(...used.keys()) + 1;
}

function overlapOwners(gpus: readonly number[], owner: ReadonlyMap<number, number>): number[] {
  return gpus.map((g) => owner.get(g)).filter((o): o is number => o !== undefined);
}

function isManagedFlag(arg: string): boolean {
  const flag = arg.split('=')[0] ?? arg;
  return (MANAGED_SGLANG_FLAGS as readonly string[]).includes(flag);
}

function positiveInt(value: number): boolean {
  return Number.isInteger(value) && value >= 1;
}

function fmt(gpus: readonly number[]): string {
  return `[${gpus.join(',')}]`;
}
