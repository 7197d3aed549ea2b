import { describe, expect, it } from 'vitest';
import { layoutProblems, presetServers, replicaServers, withDefaults } from '../../lib/fleet-layout.ts';
import type { ServerInput } from '../../lib/fleet-layout.ts';

const P5EN = { instanceType: 'p5en.48xlarge', gpuCount: 8 };
const MODEL = 'Qwen/Qwen2.5-7B-Instruct';

function problems(servers: ServerInput[], instance = P5EN): string[] {
  return layoutProblems(withDefaults(servers), instance, 'servers');
}

function server(overrides: Partial<ServerInput>): ServerInput {
  return { name: 'a', model: MODEL, gpus: [0, 1, 2, 3], tp: 4, dp: 1, port: 30000, ...overrides };
}

describe('layout presets', () => {
  it('tp8 is one TP=8 server on port 30000 with an explicit NCCL port', () => {
    const [main, ...rest] = withDefaults(presetServers('tp8', [MODEL]));
    expect(rest).toEqual([]);
    expect(main).toMatchObject({ gpus: [0, 1, 2, 3, 4, 5, 6, 7], tp: 8, dp: 1, port: 30000, ncclPort: 40000 });
  });

  it('tp4x2 is GPUs 0-3 on 30000 and 4-7 on 30001, each with its own model and NCCL port', () => {
    const servers = withDefaults(presetServers('tp4x2', [MODEL, 'Qwen/Qwen3-32B']));
    expect(servers.map((s) => [s.gpus, s.tp, s.port, s.ncclPort, s.model])).toEqual([
      [[0, 1, 2, 3], 4, 30000, 40000, MODEL],
      [[4, 5, 6, 7], 4, 30001, 40100, 'Qwen/Qwen3-32B'],
    ]);
  });

  it('tp4x2 with one model serves it on both servers', () => {
    expect(presetServers('tp4x2', [MODEL]).map((s) => s.model)).toEqual([MODEL, MODEL]);
  });

  it('dp8 is one server with eight data-parallel replicas', () => {
    expect(withDefaults(presetServers('dp8', [MODEL]))[0]).toMatchObject({ tp: 1, dp: 8, gpus: [0, 1, 2, 3, 4, 5, 6, 7] });
  });

  it.each(['tp8', 'tp4x2', 'dp8'] as const)('%s is valid on p5en.48xlarge', (layout) => {
    expect(layoutProblems(withDefaults(presetServers(layout, [MODEL])), P5EN, `layout ${layout}`)).toEqual([]);
  });
});

describe('data-parallel replicas run as servers of their own', () => {
  it('dp8 becomes eight one-GPU servers, each with its own HTTP port and NCCL port', () => {
    const replicas = replicaServers(withDefaults(presetServers('dp8', [MODEL])));
    expect(replicas.map((s) => [s.name, s.gpus, s.tp, s.dp, s.port, s.ncclPort])).toEqual(
      [0, 1, 2, 3, 4, 5, 6, 7].map((k) => [`main-${k}`, [k], 1, 1, 30000 + k, 40000 + k]),
    );
  });

  it('tp 2 x dp 2 becomes two TP=2 servers on consecutive GPU pairs; dp 1 servers stay as they are', () => {
    const servers = withDefaults([
      server({ name: 'pairs', gpus: [0, 1, 2, 3], tp: 2, dp: 2, port: 31000 }),
      server({ name: 'solo', gpus: [4, 5, 6, 7], tp: 4, dp: 1, port: 32000 }),
    ]);
    expect(replicaServers(servers).map((s) => [s.name, s.gpus, s.tp, s.port, s.ncclPort])).toEqual([
      ['pairs-0', [0, 1], 2, 31000, 40000],
      ['pairs-1', [2, 3], 2, 31001, 40001],
      ['solo', [4, 5, 6, 7], 4, 32000, 40100],
    ]);
  });

  it("rejects a server whose replicas' ports run into the next server's port", () => {
    const result = problems([
      server({ name: 'a', gpus: [0, 1], tp: 1, dp: 2, port: 30000 }),
      server({ name: 'b', gpus: [2, 3, 4, 5], port: 30001 }),
    ]);
    expect(result).toEqual(['servers[1].port 30001 is also servers[0].port: give each server its own port (for example 30002)']);
  });

  it('rejects replica names that collide with another server, and names too long for the replica suffix', () => {
    const result = problems([
      server({ name: 'a', gpus: [0, 1], tp: 1, dp: 2, port: 30000 }),
      server({ name: 'a-1', gpus: [2, 3, 4, 5], port: 30010, ncclPort: 41000 }),
    ]);
    expect(result).toEqual([
      'servers[1].name "a-1" gives a process the same name as one of servers[0] (replicas are named <name>-0, <name>-1, ...): rename one of them',
    ]);
    expect(problems([server({ name: 'x'.repeat(30), gpus: [0, 1], tp: 1, dp: 2 })])).toEqual([
      `servers[0].name "${'x'.repeat(30)}" is too long for 2 replicas named ${'x'.repeat(30)}-0 to ${'x'.repeat(30)}-1: use at most 29 characters`,
    ]);
  });
});

describe('layout rejections', () => {
  it('rejects overlapping GPUs and says to give each server its own', () => {
    const result = problems([server({}), server({ name: 'b', gpus: [3, 4, 5, 6], port: 30001 })]);
    expect(result).toContain('servers[1].gpus [3,4,5,6] overlaps servers[0].gpus [0,1,2,3]: give each server its own GPUs');
  });

  it('rejects a GPU index outside the instance', () => {
    const result = problems([server({ gpus: [4, 5, 6, 8] })]);
    expect(result.join('\n')).toContain('servers[0].gpus [4,5,6,8] has GPU 8 outside 0-7 (p5en.48xlarge has 8 GPUs): use indices 0-7');
  });

  it('rejects tp x dp that differs from the GPU count', () => {
    expect(problems([server({ tp: 2, dp: 1 })])).toEqual([
      'servers[0] tp 2 x dp 1 = 2 but it has 4 GPUs [0,1,2,3]: make tp x dp equal the number of GPUs',
    ]);
  });

  it('rejects duplicate ports', () => {
    const result = problems([server({}), server({ name: 'b', gpus: [4, 5, 6, 7] })]);
    expect(result).toEqual(['servers[1].port 30000 is also servers[0].port: give each server its own port (for example 30001)']);
  });

  it("rejects a port that collides with another server's NCCL port", () => {
    const result = problems([server({ ncclPort: 30001 }), server({ name: 'b', gpus: [4, 5, 6, 7], port: 30001 })]);
    expect(result).toEqual([
      'servers[1].port 30001 collides with servers[0].ncclPort: move the NCCL port away from every HTTP port (the defaults start at 40000)',
    ]);
  });

  it('rejects duplicate NCCL ports', () => {
    const result = problems([server({ ncclPort: 41000 }), server({ name: 'b', gpus: [4, 5, 6, 7], port: 30001, ncclPort: 41000 })]);
    expect(result).toEqual([
      'servers[1].ncclPort 41000 is also servers[0].ncclPort: give each server its own NCCL port, 100 or more apart',
    ]);
  });

  it('rejects an instance type with fewer GPUs than the layout needs', () => {
    const result = layoutProblems(withDefaults(presetServers('tp8', [MODEL])), { instanceType: 'g6e.12xlarge', gpuCount: 4 }, 'layout tp8');
    expect(result[0]).toBe(
      'layout tp8 needs 8 GPUs but instanceType g6e.12xlarge has 4: choose an instance type with at least 8 GPUs ' +
        '(for example p5en.48xlarge) or a layout that fits 4 GPUs',
    );
  });

  it('rejects duplicate server names, bad names and unknown model references', () => {
    const result = problems([server({ name: 'Main' }), server({ name: 'Main', gpus: [4, 5, 6, 7], port: 30001, model: 'not a model' })]);
    expect(result).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^servers\[0\]\.name "Main" is not a valid server name: use 1-31 lowercase letters/),
        'servers[1].name "Main" repeats servers[0].name: give each server its own name',
        expect.stringMatching(/^servers\[1\]\.model "not a model" is not a model reference: use a Hugging Face id/),
      ]),
    );
  });

  it('rejects extraArgs that repeat managed flags or carry shell syntax', () => {
    const result = problems([server({ extraArgs: ['--port=31000', '--foo', 'a b;rm -rf /'] })]);
    expect(result).toEqual([
      expect.stringMatching(/^servers\[0\]\.extraArgs sets --port=31000, which the layout manages: use the server's model/),
      expect.stringMatching(/^servers\[0\]\.extraArgs \["a b;rm -rf \/"\] contains spaces, quotes or shell characters: pass each flag/),
    ]);
  });

  it('rejects ports outside 1024-65535 and an empty GPU list', () => {
    const result = problems([server({ port: 80, gpus: [], tp: 1, dp: 1 })]);
    expect(result).toEqual(
      expect.arrayContaining([
        'servers[0].gpus is empty: list the GPU indices this server uses, for example [0,1,2,3]',
        'servers[0].port 80 is not a usable port: use a whole number from 1024 to 65535',
      ]),
    );
  });

  it('accepts a valid custom layout of four TP=2 servers', () => {
    const servers = [0, 1, 2, 3].map((i) => server({ name: `s${i}`, gpus: [2 * i, 2 * i + 1], tp: 2, port: 30000 + i }));
    expect(problems(servers)).toEqual([]);
  });
});
