/**
 * The TCP ports one `sglang.launch_server` process binds, as SGLang 0.5.x does it, so a test can put every
 * server of an instance side by side and find the collisions systemd would restart-loop on.
 *
 * - The HTTP server binds --port.
 * - With dp 1 (no --dp-size), rank 0 of the tensor-parallel group binds the torch.distributed TCPStore on
 *   the NCCL port: --nccl-port when given, else a free port SGLang picks.
 * - With --dp-size > 1, DataParallelController.launch_dp_schedulers
 *   (python/sglang/srt/managers/data_parallel_controller.py) loops over the DP ranks, calls
 *   PortArgs.init_new(server_args) for each (python/sglang/srt/server_args.py), which returns
 *   server_args.nccl_port unchanged when it is set, and bind_port()s that port while still holding the
 *   sockets of the earlier ranks ("We hold it first so that the next dp worker gets a different port"). An
 *   explicit --nccl-port therefore makes rank 1 fail with EADDRINUSE (sgl-project/sglang pull requests 10583
 *   and 10620 describe the collision).
 */

export interface PortBinds {
  /** Ports this process binds, each with who binds it. */
  readonly binds: readonly { readonly port: number; readonly by: string }[];
  /** The bind that fails inside the process itself, if one does. */
  readonly error?: string;
}

export function sglangBinds(name: string, args: readonly string[]): PortBinds {
  const flag = (...names: string[]): string | undefined => {
    const at = args.findIndex((arg) => names.includes(arg));
    return at >= 0 ? args[at + 1] : undefined;
  };
  const port = Number(flag('--port') ?? 30000);
  const dp = Number(flag('--dp-size', '--dp', '--data-parallel-size') ?? 1);
  const ncclFlag = flag('--nccl-port');
  const binds: { port: number; by: string }[] = [{ port, by: `${name} HTTP` }];
  if (ncclFlag === undefined) return { binds };
  const nccl = Number(ncclFlag);
  if (dp === 1) return { binds: [...binds, { port: nccl, by: `${name} NCCL` }] };
  const held = new Set<number>();
  for (let rank = 0; rank < dp; rank++) {
    if (held.has(nccl)) {
      return {
        binds,
        error: `${name}: DP rank ${rank} binds NCCL port ${nccl}, which rank ${rank - 1} holds: [Errno 98] Address already in use`,
      };
    }
    held.add(nccl);
    binds.push({ port: nccl, by: `${name} DP rank ${rank} NCCL` });
  }
  return { binds };
}

/** Every collision among the servers of one instance, inside a process or between two. */
export function portCollisions(servers: readonly { readonly name: string; readonly args: readonly string[] }[]): string[] {
  const owner = new Map<number, string>();
  const problems: string[] = [];
  for (const server of servers) {
    const { binds, error } = sglangBinds(server.name, server.args);
    if (error) problems.push(error);
    for (const bind of binds) {
      const previous = owner.get(bind.port);
      if (previous !== undefined) problems.push(`${bind.by} and ${previous} both bind port ${bind.port}`);
      owner.set(bind.port, bind.by);
    }
  }
  return problems;
}
