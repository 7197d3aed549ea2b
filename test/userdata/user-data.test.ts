import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config.ts';
import {
  API_KEY_FILE,
  PROMETHEUS_CONFIG_FILE,
  SGLANG_LAUNCHER,
  USERDATA_DIR,
  renderBootScript,
  renderTemplate,
  renderUserData,
} from '../../lib/constructs/sglang-servers/user-data.ts';
import type { UserDataSettings } from '../../lib/constructs/sglang-servers/user-data.ts';
import {
  SGLANG_METRIC_DIMENSIONS,
  SGLANG_METRICS_NAMESPACE,
  SGLANG_SERVER_METRICS,
} from '../../orchestrator/src/contract/deployed-names.ts';
import { portCollisions, sglangBinds } from './sglang-ports.ts';
import { STUB_API_KEY, STUB_CLOCK_START, STUB_INSTANCE_ID, createStubHost, execFile } from './stub-host.ts';
import type { StubHost } from './stub-host.ts';
import { execTargetProblems, startUnit, systemdVerify, unitCommands } from './systemd-units.ts';

const scratch = mkdtempSync(join(tmpdir(), 'raiden-userdata-scripts-'));
const TERMINATE = `aws autoscaling terminate-instance-in-auto-scaling-group --region us-east-1 --instance-id ${STUB_INSTANCE_ID} --should-decrement-desired-capacity`;
const CUSTOM_PIP = {
  servers: JSON.stringify([
    { name: 'judge', model: 's3://my-models/qwen/Qwen3-32B', gpus: [0, 1], tp: 2, port: 31000, ncclPort: 45000 },
    {
      name: 'writer',
      model: 'Qwen/Qwen2.5-7B-Instruct',
      gpus: [2, 3, 4, 5, 6, 7],
      tp: 1,
      dp: 6,
      port: 31001,
      extraArgs: ['--chunked-prefill-size', '8192'],
    },
  ]),
  sglangRuntime: 'pip',
};

function settingsFor(context: Record<string, unknown>, overrides: Partial<UserDataSettings> = {}): UserDataSettings {
  const { config } = parseConfig(context, {});
  return {
    region: 'us-east-1',
    logGroupName: '/raiden/fleet',
    apiKeySecretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:raiden-api-key-AbCdEf',
    weightsBucketName: 'raiden-weights-000000000000-us-east-1',
    servers: config.resolvedServers,
    runtime: config.sglangRuntime,
    image: config.sglangImage,
    pipVersion: config.sglangPipVersion,
    memFractionStatic: config.memFractionStatic,
    contextLength: config.contextLength,
    idleMinutes: config.idleMinutes,
    maxHours: config.maxHours,
    healthTimeoutMinutes: config.healthTimeoutMinutes,
    ...overrides,
  };
}

function writeScript(name: string, text: string): string {
  const path = join(scratch, name);
  writeFileSync(path, text);
  return path;
}

function shellcheck(...paths: string[]): void {
  // Fails (rather than skips) when shellcheck is missing: .ci/run installs it.
  const result = spawnSync('shellcheck', ['--severity=info', '--shell=bash', ...paths], { encoding: 'utf8' });
  if (result.error) throw new Error(`shellcheck is not installed (apt-get install shellcheck): ${result.error.message}`);
  expect(`${result.stdout}${result.stderr}`).toBe('');
  expect(result.status).toBe(0);
}

interface BootRun {
  readonly host: StubHost;
  readonly status: number | null;
  readonly output: string;
  unit(name: string): string;
  units(): string[];
}

interface BootOptions {
  readonly overrides?: Partial<UserDataSettings>;
  readonly env?: NodeJS.ProcessEnv;
  /** Runs on the fresh host before the boot, for example to start its clock. */
  readonly prepare?: (host: StubHost) => void;
}

const hosts: StubHost[] = [];
afterAll(() => hosts.forEach((host) => host.dispose()));

/** Boots the rendered user-data on a fresh stub instance, executed as cloud-init does: execve of the file. */
function boot(context: Record<string, unknown>, options: BootOptions = {}): BootRun {
  const host = createStubHost();
  hosts.push(host);
  // The Deep Learning AMI ships Docker: units name /usr/bin/docker.
  host.provideAmiCommand('/usr/bin/docker', 'docker');
  options.prepare?.(host);
  const script = writeScript(`user-data-${hosts.length}.sh`, renderUserData(settingsFor(context, options.overrides)));
  const { status, output } = host.run(script, options.env);
  return {
    host,
    status,
    output,
    unit: (name) => host.read(`etc/systemd/system/${name}`),
    units: () => readdirSync(join(host.root, 'etc/systemd/system')).filter((name) => /\.(service|timer)$/u.test(name)),
  };
}

/** The SGLang arguments of a server unit: everything after the launcher's `-c <code>`. */
function sglangArgs(unit: string): string[] {
  const start = unitCommands(unit, {}).find((command) => command.key === 'ExecStart');
  const argv = start?.argv ?? [];
  return argv.slice(argv.indexOf('-c') + 2);
}

describe('rendered user-data', () => {
  it.each([
    ['tp8', { layout: 'tp8' }],
    ['tp4x2', { layout: 'tp4x2', models: 'Qwen/Qwen2.5-72B-Instruct,weights:models/Qwen3-32B' }],
    ['dp8 on pip', { layout: 'dp8', models: 'Qwen/Qwen2.5-7B-Instruct', sglangRuntime: 'pip', contextLength: 32768 }],
  ])('%s: no placeholder left, under the 16 KB limit, and shellcheck-clean (packed and unpacked)', (name, context) => {
    const settings = settingsFor(context);
    const userData = renderUserData(settings);
    const bootScript = renderBootScript(settings);
    for (const text of [userData, bootScript]) expect(text).not.toMatch(/\{\{[A-Z0-9_]+\}\}/);
    expect(Buffer.byteLength(userData)).toBeLessThan(15 * 1024);
    shellcheck(writeScript(`${name}-user-data.sh`, userData), writeScript(`${name}-boot.sh`, bootScript));
  });

  it('the scripts installed on the instance are shellcheck-clean', () => {
    shellcheck(join(USERDATA_DIR, 'raiden-watchdog.sh'), join(USERDATA_DIR, 'raiden-scale-in.sh'));
  });

  it('fails on a template placeholder with no value, or a value no template uses', () => {
    expect(() => renderTemplate('raiden-max-lifetime.timer', {})).toThrow(
      'userdata/raiden-max-lifetime.timer uses placeholders with no value: MAX_HOURS',
    );
    expect(() => renderTemplate('raiden-watchdog.timer', { IDLE_MINUTES: '30' })).toThrow(
      'userdata/raiden-watchdog.timer has no placeholders IDLE_MINUTES',
    );
  });
});

describe('boot on a stub instance', () => {
  let tp8: BootRun;
  let tp4x2: BootRun;
  let custom: BootRun;

  beforeAll(() => {
    tp8 = boot({ layout: 'tp8' });
    tp4x2 = boot({ layout: 'tp4x2', models: 'Qwen/Qwen2.5-72B-Instruct,weights:models/Qwen3-32B' });
    custom = boot(CUSTOM_PIP);
  });

  it('runs to completion and tags the instance booting, then ready', () => {
    for (const run of [tp8, tp4x2, custom]) {
      expect(run.output).toContain('raiden: user-data finished');
      expect(run.status).toBe(0);
      const tags = run.host.calls().filter((call) => call.startsWith('aws ec2 create-tags'));
      expect(tags).toEqual([
        `aws ec2 create-tags --region us-east-1 --resources ${STUB_INSTANCE_ID} --tags Key=raiden:state,Value=booting`,
        `aws ec2 create-tags --region us-east-1 --resources ${STUB_INSTANCE_ID} --tags Key=raiden:state,Value=ready`,
      ]);
    }
  });

  it('tp8: one unit on all eight GPUs, TP=8, port 30000, NCCL port 40000, every required flag', () => {
    const unit = tp8.unit('sglang-main.service');
    expect(unit).toContain('Environment=CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7');
    expect(unit).toContain('EnvironmentFile=/etc/raiden/sglang.env');
    expect(unit).toMatch(/ExecStart=\/usr\/bin\/docker run --rm --name sglang-main --gpus all --network host .*-e CUDA_VISIBLE_DEVICES/);
    expect(unit).toContain(`python3 -c "${SGLANG_LAUNCHER}"`);
    expect(sglangArgs(unit)).toEqual(
      (
        '--model-path /opt/dlami/nvme/models/Qwen--Qwen2.5-72B-Instruct --served-model-name Qwen/Qwen2.5-72B-Instruct ' +
        '--tp-size 8 --host 0.0.0.0 --port 30000 --nccl-port 40000 --enable-metrics --mem-fraction-static 0.85'
      ).split(' '),
    );
    expect(tp8.host.exists('etc/systemd/system/sglang-gpus4-7.service')).toBe(false);
  });

  it('tp4x2: GPUs 0-3 on 30000 and 4-7 on 30001 with separate NCCL ports and models', () => {
    const first = tp4x2.unit('sglang-gpus0-3.service');
    const second = tp4x2.unit('sglang-gpus4-7.service');
    expect(first).toContain('Environment=CUDA_VISIBLE_DEVICES=0,1,2,3');
    expect(sglangArgs(first).join(' ')).toMatch(/--tp-size 4 --host 0\.0\.0\.0 --port 30000 --nccl-port 40000 /);
    expect(second).toContain('Environment=CUDA_VISIBLE_DEVICES=4,5,6,7');
    expect(second).toMatch(/--model-path \/opt\/dlami\/nvme\/models\/weights--models--Qwen3-32B --served-model-name Qwen3-32B /);
    expect(sglangArgs(second).join(' ')).toMatch(/--tp-size 4 --host 0\.0\.0\.0 --port 30001 --nccl-port 40100 /);
    expect(tp4x2.host.calls()).toEqual(
      expect.arrayContaining([
        'systemctl enable --now sglang-gpus0-3.service',
        'systemctl enable --now sglang-gpus4-7.service',
        'aws s3 sync --only-show-errors --region us-east-1 s3://raiden-weights-000000000000-us-east-1/models/Qwen3-32B/ ' +
          `${tp4x2.host.root}/opt/dlami/nvme/models/weights--models--Qwen3-32B`,
        `curl -fsS -o /dev/null --max-time 60 -H @${tp4x2.host.root}/etc/raiden/sglang-auth.header http://127.0.0.1:30001/health_generate`,
      ]),
    );
  });

  it('custom layout on pip: each server its own GPUs, ports and NCCL port; a dp 6 server runs as six replicas', () => {
    const judge = custom.unit('sglang-judge.service');
    expect(judge).toContain('Environment=CUDA_VISIBLE_DEVICES=0,1');
    expect(judge).toMatch(
      /ExecStart=\/opt\/raiden\/venv\/bin\/python -c ".*" --model-path \/opt\/dlami\/nvme\/models\/s3--my-models--qwen--Qwen3-32B /,
    );
    expect(sglangArgs(judge).join(' ')).toMatch(/--tp-size 2 --host 0\.0\.0\.0 --port 31000 --nccl-port 45000 --enable-metrics/);
    const writers = [0, 1, 2, 3, 4, 5].map((k) => custom.unit(`sglang-writer-${k}.service`));
    writers.forEach((writer, k) => {
      expect(writer).toContain(`Environment=CUDA_VISIBLE_DEVICES=${k + 2}\n`);
      expect(sglangArgs(writer).join(' ')).toMatch(
        new RegExp(`--tp-size 1 --host 0\\.0\\.0\\.0 --port ${31001 + k} --nccl-port ${40100 + k} .* --chunked-prefill-size 8192$`, 'u'),
      );
    });
    expect(custom.host.calls()).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^python3 -m venv .*\/opt\/raiden\/venv$/),
        expect.stringMatching(/^python -m pip install --quiet sglang\[all\]==0\.5\.6\.post1$/),
        expect.stringMatching(
          /^python -c .*snapshot_download.* Qwen\/Qwen2\.5-7B-Instruct .*\/opt\/dlami\/nvme\/models\/Qwen--Qwen2\.5-7B-Instruct$/,
        ),
      ]),
    );
  });

  it('keeps secrets out of user-data: the API key lands in root-only files', () => {
    expect(tp8.host.read('etc/raiden/sglang.env')).toBe(`SGLANG_API_KEY=${STUB_API_KEY}\n`);
    expect(tp8.host.read('etc/raiden/sglang-auth.header')).toBe(`Authorization: Bearer ${STUB_API_KEY}\n`);
    for (const file of ['etc/raiden/sglang.env', 'etc/raiden/sglang-auth.header']) {
      expect(execFileSync('stat', ['-c', '%a', join(tp8.host.root, file)], { encoding: 'utf8' }).trim()).toBe('600');
    }
    expect(execFileSync('stat', ['-c', '%a', join(tp8.host.root, 'var/log/raiden')], { encoding: 'utf8' }).trim()).toBe('750');
  });

  it('arms the max-lifetime timer before staging weights, and the idle watchdog after the servers are ready', () => {
    const calls = tp8.host.calls();
    const index = (prefix: string) => calls.findIndex((call) => call.startsWith(prefix));
    expect(index('systemctl enable --now raiden-max-lifetime.timer')).toBeLessThan(index('docker pull'));
    expect(index('systemctl enable --now raiden-watchdog.timer')).toBeGreaterThan(
      index('aws ec2 create-tags --region us-east-1 --resources i-0123456789abcdef0 --tags Key=raiden:state,Value=ready'),
    );
    expect(tp8.host.read('etc/systemd/system/raiden-max-lifetime.timer')).toContain('OnBootSec=12h');
    expect(tp8.host.read('etc/systemd/system/raiden-max-lifetime.service')).toContain(
      'ExecStart=/usr/local/bin/raiden-scale-in "max lifetime of 12 hours reached"',
    );
    expect(tp8.host.read('etc/systemd/system/raiden-watchdog.timer')).toContain('OnUnitActiveSec=1min');
  });

  it('raises aws s3 concurrency (64 requests of 64 MB parts) before it syncs weights', () => {
    const calls = tp4x2.host.calls();
    const index = (prefix: string) => calls.findIndex((call) => call.startsWith(prefix));
    expect(index('aws configure set default.s3.max_concurrent_requests 64')).toBeGreaterThanOrEqual(0);
    expect(index('aws configure set default.s3.multipart_chunksize 64MB')).toBeGreaterThanOrEqual(0);
    expect(index('aws configure set default.s3.max_concurrent_requests')).toBeLessThan(index('aws s3 sync'));
  });

  it("writes the s3 settings to the sync's own config file, syncs with it, and leaves root's ~/.aws/config alone", () => {
    const own = `AWS_CONFIG_FILE=${tp4x2.host.root}/etc/raiden/aws-s3-sync.config`;
    const aws = tp4x2.host.awsConfigFiles();
    expect(aws.filter((call) => call.startsWith('configure set'))).toEqual([`configure set ${own}`, `configure set ${own}`]);
    const syncs = aws.filter((call) => call.startsWith('s3 sync'));
    expect(syncs.length).toBeGreaterThan(0);
    expect(new Set(syncs)).toEqual(new Set([`s3 sync ${own}`]));
    expect(tp4x2.host.read('etc/raiden/aws-s3-sync.config')).toBe(
      'default.s3.max_concurrent_requests = 64\ndefault.s3.multipart_chunksize = 64MB\n',
    );
    expect(existsSync(join(String(tp4x2.host.env.HOME), '.aws'))).toBe(false);
    // The other aws calls (secrets, tags, head-object) keep the instance's own configuration.
    expect(aws.filter((call) => !call.startsWith('configure set') && !call.startsWith('s3 sync'))).not.toContainEqual(
      expect.stringContaining(own),
    );
  });

  it('ships the user-data, watchdog and server logs to the CloudWatch log group', () => {
    const agentConfig = JSON.parse(tp4x2.host.read('etc/raiden/cloudwatch-agent.json')) as {
      logs: { logs_collected: { files: { collect_list: { file_path: string; log_group_name: string }[] } } };
    };
    const files = agentConfig.logs.logs_collected.files.collect_list;
    expect(files.map((f) => f.file_path)).toEqual([
      '/var/log/raiden/user-data.log',
      '/var/log/raiden/watchdog.log',
      '/var/log/raiden/max-lifetime.log',
      '/var/log/raiden/sglang-gpus0-3.log',
      '/var/log/raiden/sglang-gpus4-7.log',
    ]);
    expect(new Set(files.map((f) => f.log_group_name))).toEqual(new Set(['/raiden/fleet']));
  });

  it('the agent drops the line where SGLang logs its ServerArgs with the API key, and ships the others', () => {
    const agentConfig = JSON.parse(tp4x2.host.read('etc/raiden/cloudwatch-agent.json')) as {
      logs: { logs_collected: { files: { collect_list: { file_path: string; filters?: { type: string; expression: string }[] }[] } } };
    };
    const key = STUB_API_KEY;
    // As SGLang's launch_server logs it (logger.info(f"{server_args=}")), with Python's repr of the key.
    const repr = (text: string) => (text.includes("'") ? `"${text}"` : `'${text}'`);
    const lines = [
      `[2026-01-01 00:00:00] server_args=ServerArgs(model_path='/opt/models/qwen', tp_size=4, api_key=${repr(key)}, enable_metrics=True)`,
      `[2026-01-01 00:00:01] server_args=ServerArgs(model_path='/opt/models/qwen', api_key=${repr(`it's-${key}`)})`,
      '[2026-01-01 00:00:09] The server is fired up and ready to roll!',
      "[2026-01-01 00:00:10] server_args=ServerArgs(model_path='/opt/models/qwen', api_key=None)",
    ];
    for (const file of agentConfig.logs.logs_collected.files.collect_list) {
      const shipped = lines.filter(
        (line) => !(file.filters ?? []).some((filter) => filter.type === 'exclude' && new RegExp(filter.expression, 'u').test(line)),
      );
      expect(shipped, file.file_path).toEqual([lines[2], lines[3]]);
      expect(shipped.join('\n')).not.toContain(key);
    }
  });

  it('scales in with capacity decrement when a step fails', () => {
    const failed = boot({ models: 'weights:models/missing' }, { env: { STUB_AWS_FAIL: 's3 sync' } });
    expect(failed.status).not.toBe(0);
    expect(failed.host.calls()).toEqual(
      expect.arrayContaining([
        `aws ec2 create-tags --region us-east-1 --resources ${STUB_INSTANCE_ID} --tags Key=raiden:state,Value=failed`,
        TERMINATE,
      ]),
    );
    expect(failed.host.calls().some((call) => call.startsWith('systemctl enable --now sglang-'))).toBe(false);
  });

  it('fails (and scales in) when the instance has fewer GPUs than the layout', () => {
    const small = boot({ layout: 'tp8' }, { env: { STUB_GPUS: '4' } });
    expect(small.output).toContain('raiden: the layout needs 8 GPUs but nvidia-smi lists 4');
    expect(small.host.calls()).toContain(TERMINATE);
  });
});

describe('what the boot installs runs the way systemd runs it', () => {
  let docker: BootRun;
  let pip: BootRun;
  beforeAll(() => {
    docker = boot({ layout: 'tp4x2' });
    pip = boot(CUSTOM_PIP);
  });

  it('every file written into /usr/local/bin runs by execve, without a shell in between', () => {
    const programs = readdirSync(join(docker.host.root, 'usr/local/bin'));
    expect(programs.sort()).toEqual(['raiden-scale-in', 'raiden-watchdog']);
    for (const program of programs) {
      const { status, output } = docker.host.run(join(docker.host.root, 'usr/local/bin', program), {}, ['reason']);
      expect(output, program).not.toMatch(/ENOEXEC|Exec format error/u);
      expect(status, `${program}: ${output}`).toBe(0);
    }
  });

  it("every unit's commands exist, are executable and start with #! (or are ELF), as execve needs", () => {
    for (const run of [docker, pip]) {
      const problems = run.units().flatMap((unit) => execTargetProblems(run.unit(unit), run.host.root).map((p) => `${unit}: ${p}`));
      expect(problems).toEqual([]);
    }
  });

  it('systemd-analyze verify accepts every generated unit and timer', () => {
    for (const run of [docker, pip]) {
      const { status, output } = systemdVerify(run.host, run.units());
      expect(output).toBe('');
      expect(status).toBe(0);
    }
  });
});

describe('data parallelism: every SGLang process binds its own ports', () => {
  it('SGLang with --dp-size > 1 binds an explicit --nccl-port once per DP rank, so rank 1 fails (the form main rendered)', () => {
    expect(sglangBinds('main', ['--dp-size', '8', '--port', '30000', '--nccl-port', '40000']).error).toMatch(
      /DP rank 1 binds NCCL port 40000, which rank 0 holds: \[Errno 98\] Address already in use/u,
    );
  });

  it.each([
    ['dp8', { layout: 'dp8', models: 'Qwen/Qwen2.5-7B-Instruct' }, 8],
    ['tp4x2', { layout: 'tp4x2' }, 2],
    ['custom, dp 6 beside tp 2', CUSTOM_PIP, 7],
  ])('%s: no port is bound twice on the instance', (_name, context, processes) => {
    const run = boot(context);
    const servers = run
      .units()
      .filter((unit) => unit.startsWith('sglang-'))
      .map((unit) => ({ name: unit, args: sglangArgs(run.unit(unit)) }));
    expect(portCollisions(servers)).toEqual([]);
    expect(servers).toHaveLength(processes);
  });

  it('dp8 runs one server per GPU on ports 30000-30007, and the watchdog and health wait cover all of them', () => {
    const run = boot({ layout: 'dp8', models: 'Qwen/Qwen2.5-7B-Instruct' });
    const units = Array.from({ length: 8 }, (_, k) => run.unit(`sglang-main-${k}.service`));
    expect(units.map((unit) => /CUDA_VISIBLE_DEVICES=(\S+)/u.exec(unit)?.[1])).toEqual(['0', '1', '2', '3', '4', '5', '6', '7']);
    expect(run.host.read('etc/raiden/fleet.env')).toContain('RAIDEN_SERVER_PORTS="30000 30001 30002 30003 30004 30005 30006 30007"');
    expect(run.host.calls().filter((call) => call.endsWith('/health_generate'))).toHaveLength(8);
  });
});

describe("SGLang's /metrics: the CloudWatch agent scrapes every server into CloudWatch metrics", () => {
  interface PrometheusConfig {
    scrape_configs: {
      job_name: string;
      authorization: { type: string; credentials_file: string };
      static_configs: { targets: string[]; labels: Record<string, string> }[];
    }[];
  }
  interface AgentPrometheus {
    log_group_name: string;
    prometheus_config_path: string;
    emf_processor: {
      metric_namespace: string;
      metric_unit: Record<string, string>;
      metric_declaration: { source_labels: string[]; label_matcher: string; dimensions: string[][]; metric_selectors: string[] }[];
    };
  }
  // What a server's /metrics shows, with names that only differ by a suffix from the selected ones.
  const SGLANG_METRICS_TEXT = [
    'sglang:num_running_reqs{model_name="m",tp_rank="0"} 3.0',
    'sglang:num_running_reqs_offline_batch{model_name="m",tp_rank="0"} 0.0',
    'sglang:num_queue_reqs{model_name="m",tp_rank="0"} 1.0',
    'sglang:gen_throughput{model_name="m",tp_rank="0"} 812.5',
    'sglang:cache_hit_rate{model_name="m",tp_rank="0"} 0.42',
    'sglang:token_usage{model_name="m",tp_rank="0"} 0.3',
    'sglang:prompt_tokens_total{model_name="m",tp_rank="0"} 1000.0',
  ].join('\n');

  let tp4x2: BootRun;
  let dp8: BootRun;
  beforeAll(() => {
    tp4x2 = boot({ layout: 'tp4x2', models: 'Qwen/Qwen2.5-72B-Instruct,weights:models/Qwen3-32B' });
    dp8 = boot({ layout: 'dp8', models: 'Qwen/Qwen2.5-7B-Instruct' });
  });

  const prometheusOf = (run: BootRun) => JSON.parse(run.host.read(PROMETHEUS_CONFIG_FILE.slice(1))) as PrometheusConfig;
  const agentPrometheusOf = (run: BootRun) =>
    (JSON.parse(run.host.read('etc/raiden/cloudwatch-agent.json')) as { logs: { metrics_collected: { prometheus: AgentPrometheus } } }).logs
      .metrics_collected.prometheus;

  it('the agent config is JSON that sends the scraped metrics to their namespace, by instance and server, through the log group', () => {
    expect(tp4x2.status, tp4x2.output).toBe(0);
    const prometheus = agentPrometheusOf(tp4x2);
    expect(prometheus.log_group_name).toBe('/raiden/fleet');
    expect(prometheus.prometheus_config_path).toBe(PROMETHEUS_CONFIG_FILE);
    expect(prometheus.emf_processor.metric_namespace).toBe(SGLANG_METRICS_NAMESPACE);
    expect(prometheus.emf_processor.metric_unit).toEqual(SGLANG_SERVER_METRICS);
    const [declaration, ...others] = prometheus.emf_processor.metric_declaration;
    expect(others).toEqual([]);
    expect(declaration?.dimensions).toEqual([[...SGLANG_METRIC_DIMENSIONS]]);
    expect(declaration?.source_labels).toEqual(['job']);
    expect(new RegExp(declaration?.label_matcher ?? '').test(prometheusOf(tp4x2).scrape_configs[0]?.job_name ?? '')).toBe(true);
    // The selectors survive the shell's heredoc with their `$` anchors: exactly the four gauges, no suffixed names.
    const names = SGLANG_METRICS_TEXT.split('\n').map((line) => line.split('{')[0] ?? '');
    const selected = names.filter((name) => declaration?.metric_selectors.some((selector) => new RegExp(selector).test(name)));
    expect(selected).toEqual(Object.keys(SGLANG_SERVER_METRICS));
    expect(tp4x2.host.calls()).toContain(
      'amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:' + join(tp4x2.host.root, 'etc/raiden/cloudwatch-agent.json'),
    );
  });

  it.each([
    ['tp4x2', () => tp4x2, { 'gpus0-3': 30000, 'gpus4-7': 30001 }],
    ['dp8', () => dp8, Object.fromEntries(Array.from({ length: 8 }, (_, k) => [`main-${k}`, 30000 + k]))],
  ])("%s: the scrape config names every server's port with its instance and server labels", (_name, run, ports) => {
    const [job, ...others] = prometheusOf(run()).scrape_configs;
    expect(others).toEqual([]);
    expect(job?.static_configs.map((target) => [target.labels, target.targets])).toEqual(
      Object.entries(ports).map(([server, port]) => [{ InstanceId: STUB_INSTANCE_ID, Server: server }, [`127.0.0.1:${port}`]]),
    );
  });

  it('the scraper authenticates from a root-only key file; neither config holds the key', () => {
    const auth = prometheusOf(tp4x2).scrape_configs[0]?.authorization;
    expect(auth).toEqual({ type: 'Bearer', credentials_file: API_KEY_FILE });
    const keyFile = join(tp4x2.host.root, API_KEY_FILE);
    expect(readFileSync(keyFile, 'utf8')).toBe(`${STUB_API_KEY}\n`);
    expect(execFileSync('stat', ['-c', '%a', keyFile], { encoding: 'utf8' }).trim()).toBe('600');
    for (const config of [PROMETHEUS_CONFIG_FILE, '/etc/raiden/cloudwatch-agent.json']) {
      expect(tp4x2.host.read(config.slice(1))).not.toContain(STUB_API_KEY);
    }
  });

  it('a scrape as Prometheus makes it (Authorization: <type> <key file, trimmed>) reaches every server', () => {
    const [job] = prometheusOf(tp4x2).scrape_configs;
    const key = readFileSync(join(tp4x2.host.root, job?.authorization.credentials_file ?? ''), 'utf8').trim();
    const header = writeScript('prometheus-scrape.header', `Authorization: ${job?.authorization.type} ${key}\n`);
    const curl = join(String(tp4x2.host.env.PATH).split(':')[0] ?? '', 'curl');
    for (const target of job?.static_configs.flatMap((config) => config.targets) ?? []) {
      tp4x2.host.setMetrics(Number(target.split(':')[1]), SGLANG_METRICS_TEXT);
      const scrape = execFile(curl, ['-fsS', '-H', `@${header}`, `http://${target}/metrics`], tp4x2.host.env);
      expect(scrape.status, scrape.output).toBe(0);
      expect(scrape.output).toContain('sglang:gen_throughput');
    }
  });
});

describe('the API key is in no process argument', () => {
  it('server units, the health wait and the watchdog pass it through files and the environment, never argv', () => {
    for (const context of [{ layout: 'tp4x2' }, CUSTOM_PIP]) {
      const run = boot(context);
      run.host.setMetrics(30000, 'sglang:num_running_reqs 0\n');
      run.host.run(join(run.host.root, 'usr/local/bin/raiden-watchdog'));
      for (const unit of run.units().filter((name) => name.startsWith('sglang-'))) {
        const started = startUnit(run.host, `etc/systemd/system/${unit}`);
        expect(started.status, started.output).toBe(0);
      }
      const calls = run.host.calls();
      expect(calls.filter((call) => /^(docker run|python -c)/u.test(call)).length).toBeGreaterThan(1);
      expect(calls.filter((call) => call.startsWith('curl') && /health_generate|metrics/u.test(call)).length).toBeGreaterThan(1);
      expect(calls.filter((call) => call.includes(STUB_API_KEY))).toEqual([]);
    }
  });

  it('the launcher hands SGLang --api-key from the environment while its command line holds no key', () => {
    // A stand-in sglang.launch_server that records what SGLang would parse and what ps would show.
    const python = spawnSync('python3', ['--version'], { encoding: 'utf8' });
    if (python.error) throw new Error('python3 is not installed (apt-get install python3); .ci/run installs it');
    const site = mkdtempSync(join(tmpdir(), 'raiden-fake-sglang-'));
    mkdirSync(join(site, 'sglang'));
    writeFileSync(join(site, 'sglang/__init__.py'), '');
    writeFileSync(
      join(site, 'sglang/launch_server.py'),
      [
        'import json, sys',
        "cmdline = open('/proc/self/cmdline', 'rb').read().decode().split(chr(0))",
        "if __name__ == '__main__':",
        "    print(json.dumps({'argv': sys.argv[1:], 'cmdline': cmdline}))",
      ].join('\n'),
    );
    const unit = boot(CUSTOM_PIP).unit('sglang-judge.service');
    const args = sglangArgs(unit);
    const result = spawnSync('python3', ['-c', SGLANG_LAUNCHER, ...args], {
      encoding: 'utf8',
      env: { ...process.env, PYTHONPATH: site, SGLANG_API_KEY: STUB_API_KEY },
    });
    expect(result.stderr).toBe('');
    const seen = JSON.parse(result.stdout) as { argv: string[]; cmdline: string[] };
    expect(seen.argv).toEqual([...args, '--api-key', STUB_API_KEY]);
    expect(seen.cmdline.join(' ')).not.toContain(STUB_API_KEY);
  });
});

describe('boot deadline and early failures', () => {
  it('the health deadline counts from the start of the boot: a slow image pull leaves less time, not more', () => {
    let now = (): number => 0;
    const slow = boot(
      { layout: 'tp8', healthTimeoutMinutes: 60 },
      {
        env: { STUB_PULL_SECONDS: String(50 * 60), STUB_HEALTH_FAIL: '1' },
        prepare: (host) => {
          now = host.startClock();
        },
      },
    );
    expect(slow.output).toContain('raiden: the server on port 30000 is not ready 3600s after the boot started');
    expect(slow.status).not.toBe(0);
    // The instance gave up one health interval after boot + 60 minutes, not 60 minutes after the pull.
    expect(now() - STUB_CLOCK_START).toBeGreaterThanOrEqual(3600);
    expect(now() - STUB_CLOCK_START).toBeLessThanOrEqual(3600 + 15);
    expect(slow.host.calls()).toContain(TERMINATE);
  });

  it('a failure of the very first AWS call (the booting tag) still scales in', () => {
    const failed = boot({ layout: 'tp8' }, { env: { STUB_AWS_FAIL: 'Value=booting' } });
    expect(failed.status).not.toBe(0);
    expect(failed.host.calls()).toContain(TERMINATE);
  });

  it('with no instance id from the metadata service, it powers off (the launch template terminates on shutdown)', () => {
    const failed = boot({ layout: 'tp8' }, { env: { STUB_IMDS_DOWN: '1' } });
    expect(failed.status).not.toBe(0);
    expect(failed.output).toContain('powering off, which terminates this instance');
    expect(failed.host.calls()).toContain('systemctl poweroff');
    expect(failed.host.calls().some((call) => call.startsWith('docker pull'))).toBe(false);
  });
});

describe('weights staged in the weights bucket', () => {
  const MARKER = 'huggingface/Qwen/Qwen2.5-72B-Instruct/.raiden-staged.json';

  it('a Hugging Face model that raiden weights stage copied is read from S3, not downloaded through the NAT', () => {
    const run = boot({ layout: 'tp8' }, { env: { STUB_S3_OBJECTS: MARKER } });
    expect(run.status).toBe(0);
    expect(run.host.calls()).toContain(
      'aws s3 sync --only-show-errors --region us-east-1 --exclude .raiden-staged.json ' +
        's3://raiden-weights-000000000000-us-east-1/huggingface/Qwen/Qwen2.5-72B-Instruct/ ' +
        `${run.host.root}/opt/dlami/nvme/models/Qwen--Qwen2.5-72B-Instruct`,
    );
    expect(run.host.calls().some((call) => call.includes('snapshot_download'))).toBe(false);
  });

  it('one that is not staged comes from Hugging Face, and the log says how to stage it', () => {
    const run = boot({ layout: 'tp8' });
    expect(run.output).toContain('npx raiden weights stage --model Qwen/Qwen2.5-72B-Instruct copies it there once');
    expect(run.host.calls().some((call) => call.startsWith('docker run') && call.includes('snapshot_download'))).toBe(true);
  });
});

describe('idle watchdog and max lifetime', () => {
  let run: BootRun;
  const idleMetrics = [
    '# HELP sglang:num_running_reqs The number of running requests.',
    '# TYPE sglang:num_running_reqs gauge',
    'sglang:num_running_reqs{model_name="Qwen/Qwen2.5-72B-Instruct"} 0.0',
    'sglang:num_queue_reqs{model_name="Qwen/Qwen2.5-72B-Instruct"} 0.0',
    'sglang:num_used_tokens{model_name="Qwen/Qwen2.5-72B-Instruct"} 1234.0',
  ].join('\n');
  const busyMetrics = idleMetrics.replace(
    'num_queue_reqs{model_name="Qwen/Qwen2.5-72B-Instruct"} 0.0',
    'num_queue_reqs{model_name="Qwen/Qwen2.5-72B-Instruct"} 3.0',
  );

  beforeAll(() => {
    run = boot({ layout: 'tp4x2' });
  });

  /** The watchdog as its timer's service starts it: execve of the installed file. */
  function watchdog(): { output: string; terminated: boolean } {
    const before = run.host.calls().length;
    const { output, status } = run.host.run(join(run.host.root, 'usr/local/bin/raiden-watchdog'));
    expect(status, output).toBe(0);
    return { output, terminated: run.host.calls().slice(before).includes(TERMINATE) };
  }

  function idleSince(secondsAgo: number): void {
    writeFileSync(join(run.host.root, 'var/lib/raiden/idle-since'), `${Math.floor(Date.now() / 1000) - secondsAgo}\n`);
  }

  it('busy: queued requests on any server reset the idle timer and keep the instance', () => {
    run.host.setMetrics(30000, idleMetrics);
    run.host.setMetrics(30001, busyMetrics);
    idleSince(3600);
    const result = watchdog();
    expect(result.output).toContain('raiden-watchdog: busy, 3 running or queued requests');
    expect(result.terminated).toBe(false);
    expect(run.host.exists('var/lib/raiden/idle-since')).toBe(false);
  });

  it('a request that finished since the last check keeps the instance: a run starting near the idle mark', () => {
    const served = (count: number) => `${idleMetrics}\nsglang:num_requests_total{model_name="Qwen/Qwen2.5-72B-Instruct"} ${count}.0`;
    run.host.setMetrics(30000, served(40));
    run.host.setMetrics(30001, idleMetrics);
    idleSince(29 * 60);
    expect(watchdog().terminated).toBe(false);
    // Between two checks a run's first request came and went: no request is running now, but one finished.
    run.host.setMetrics(30000, served(41));
    idleSince(31 * 60);
    const result = watchdog();
    expect(result.output).toContain('raiden-watchdog: busy, 0 running or queued requests, 1 finished since the last check');
    expect(result.terminated).toBe(false);
    expect(run.host.exists('var/lib/raiden/idle-since')).toBe(false);
    run.host.setMetrics(30000, idleMetrics);
  });

  it('idle: the first idle minute starts the timer without scaling in', () => {
    run.host.setMetrics(30001, idleMetrics);
    const result = watchdog();
    expect(result.output).toContain('raiden-watchdog: idle, starting the 30-minute idle timer');
    expect(result.terminated).toBe(false);
    expect(run.host.exists('var/lib/raiden/idle-since')).toBe(true);
  });

  it('idle for less than the configured minutes: waits', () => {
    idleSince(29 * 60);
    const result = watchdog();
    expect(result.output).toMatch(/raiden-watchdog: idle for 17\d\ds of 1800s/);
    expect(result.terminated).toBe(false);
  });

  it('idle for the configured minutes: terminates itself with capacity decrement', () => {
    idleSince(31 * 60);
    const result = watchdog();
    expect(result.output).toContain(`raiden-scale-in: terminating ${STUB_INSTANCE_ID}: idle for 30 minutes`);
    expect(result.terminated).toBe(true);
  });

  it('a server that does not answer counts as idle', () => {
    run.host.setMetrics(30000, null);
    run.host.setMetrics(30001, null);
    idleSince(31 * 60);
    const result = watchdog();
    expect(result.output).toContain('no metrics from port 30000; counting it as idle');
    expect(result.terminated).toBe(true);
  });

  it('max lifetime: the timer service terminates with capacity decrement whatever the load', () => {
    run.host.setMetrics(30000, busyMetrics);
    const service = run.host.read('etc/systemd/system/raiden-max-lifetime.service');
    const start = unitCommands(service, {}).find((command) => command.key === 'ExecStart');
    const [command = '', ...args] = start?.argv ?? [];
    const before = run.host.calls().length;
    const { status, output } = execFile(join(run.host.root, command), args, run.host.env);
    expect(status, output).toBe(0);
    expect(args).toEqual(['max lifetime of 12 hours reached']);
    expect(output).toContain(`raiden-scale-in: terminating ${STUB_INSTANCE_ID}: max lifetime of 12 hours reached`);
    expect(run.host.calls().slice(before)).toEqual([
      `aws ec2 create-tags --region us-east-1 --resources ${STUB_INSTANCE_ID} --tags Key=raiden:state,Value=scaling-in`,
      TERMINATE,
    ]);
  });
});

describe('the rendered boot script reads its own templates', () => {
  it('the installed scripts keep their #! line', () => {
    const script = renderBootScript(settingsFor({ layout: 'tp8' }));
    expect(script).toMatch(/cat > "\$\{RAIDEN_ROOT\}\/usr\/local\/bin\/raiden-scale-in" <<'RAIDEN_SCRIPT'\n#!\/bin\/bash\n/u);
    expect(script).toMatch(/cat > "\$\{RAIDEN_ROOT\}\/usr\/local\/bin\/raiden-watchdog" <<'RAIDEN_SCRIPT'\n#!\/bin\/bash\n/u);
    expect(readFileSync(join(USERDATA_DIR, 'raiden-watchdog.sh'), 'utf8').startsWith('#!/bin/bash\n')).toBe(true);
  });
});
