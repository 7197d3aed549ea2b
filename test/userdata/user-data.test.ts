import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config.ts';
import { USERDATA_DIR, renderBootScript, renderTemplate, renderUserData } from '../../lib/constructs/sglang-servers/user-data.ts';
import type { UserDataSettings } from '../../lib/constructs/sglang-servers/user-data.ts';
import { STUB_API_KEY, STUB_INSTANCE_ID, createStubHost } from './stub-host.ts';
import type { StubHost } from './stub-host.ts';

const scratch = mkdtempSync(join(tmpdir(), 'raiden-userdata-scripts-'));

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
}

function boot(context: Record<string, unknown>, overrides: Partial<UserDataSettings> = {}, env: NodeJS.ProcessEnv = {}): BootRun {
  const host = createStubHost();
  hosts.push(host);
  const script = writeScript(`user-data-${hosts.length}.sh`, renderUserData(settingsFor(context, overrides)));
  const { status, output } = host.run(script, env);
  return { host, status, output, unit: (name) => host.read(`etc/systemd/system/${name}`) };
}

const hosts: StubHost[] = [];
afterAll(() => hosts.forEach((host) => host.dispose()));

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
    custom = boot({
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
    });
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
    expect(unit).toContain(
      'python3 -m sglang.launch_server --model-path /opt/dlami/nvme/models/Qwen--Qwen2.5-72B-Instruct ' +
        '--served-model-name Qwen/Qwen2.5-72B-Instruct --tp-size 8 --dp-size 1 --host 0.0.0.0 --port 30000 ' +
        '--nccl-port 40000 --enable-metrics --api-key ${SGLANG_API_KEY} --mem-fraction-static 0.85\n',
    );
    expect(unit).toMatch(/ExecStart=\/usr\/bin\/docker run --rm --name sglang-main --gpus all --network host .*-e CUDA_VISIBLE_DEVICES/);
    expect(tp8.host.exists('etc/systemd/system/sglang-gpus4-7.service')).toBe(false);
  });

  it('tp4x2: GPUs 0-3 on 30000 and 4-7 on 30001 with separate NCCL ports and models', () => {
    const first = tp4x2.unit('sglang-gpus0-3.service');
    const second = tp4x2.unit('sglang-gpus4-7.service');
    expect(first).toContain('Environment=CUDA_VISIBLE_DEVICES=0,1,2,3');
    expect(first).toMatch(/--tp-size 4 --dp-size 1 --host 0\.0\.0\.0 --port 30000 --nccl-port 40000 /);
    expect(second).toContain('Environment=CUDA_VISIBLE_DEVICES=4,5,6,7');
    expect(second).toMatch(/--model-path \/opt\/dlami\/nvme\/models\/weights--models--Qwen3-32B --served-model-name Qwen3-32B /);
    expect(second).toMatch(/--tp-size 4 --dp-size 1 --host 0\.0\.0\.0 --port 30001 --nccl-port 40100 /);
    expect(tp4x2.host.calls()).toEqual(
      expect.arrayContaining([
        'systemctl enable --now sglang-gpus0-3.service',
        'systemctl enable --now sglang-gpus4-7.service',
        'aws s3 sync --only-show-errors --region us-east-1 s3://raiden-weights-000000000000-us-east-1/models/Qwen3-32B/ ' +
          `${tp4x2.host.root}/opt/dlami/nvme/models/weights--models--Qwen3-32B`,
        `curl -fsS -o /dev/null --max-time 60 -H Authorization: Bearer ${STUB_API_KEY} http://127.0.0.1:30001/health_generate`,
      ]),
    );
  });

  it('custom layout on pip: each server its own GPUs, ports, NCCL port, dp size and extra args', () => {
    const judge = custom.unit('sglang-judge.service');
    const writer = custom.unit('sglang-writer.service');
    expect(judge).toContain('Environment=CUDA_VISIBLE_DEVICES=0,1');
    expect(judge).toMatch(
      /ExecStart=\/opt\/raiden\/venv\/bin\/python -m sglang\.launch_server --model-path \/opt\/dlami\/nvme\/models\/s3--my-models--qwen--Qwen3-32B /,
    );
    expect(judge).toMatch(/--tp-size 2 --dp-size 1 --host 0\.0\.0\.0 --port 31000 --nccl-port 45000 --enable-metrics/);
    expect(writer).toContain('Environment=CUDA_VISIBLE_DEVICES=2,3,4,5,6,7');
    expect(writer).toMatch(/--tp-size 1 --dp-size 6 --host 0\.0\.0\.0 --port 31001 --nccl-port 40100 .* --chunked-prefill-size 8192\n/);
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

  it('keeps secrets out of user-data: the API key lands in a root-only env file', () => {
    expect(tp8.host.read('etc/raiden/sglang.env')).toBe(`SGLANG_API_KEY=${STUB_API_KEY}\n`);
    expect(execFileSync('stat', ['-c', '%a', join(tp8.host.root, 'etc/raiden/sglang.env')], { encoding: 'utf8' }).trim()).toBe('600');
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

  it('scales in with capacity decrement when a step fails', () => {
    const failed = boot({ models: 'weights:models/missing' }, {}, { STUB_AWS_FAIL: 's3 sync' });
    expect(failed.status).not.toBe(0);
    expect(failed.host.calls()).toEqual(
      expect.arrayContaining([
        `aws ec2 create-tags --region us-east-1 --resources ${STUB_INSTANCE_ID} --tags Key=raiden:state,Value=failed`,
        `aws autoscaling terminate-instance-in-auto-scaling-group --region us-east-1 --instance-id ${STUB_INSTANCE_ID} --should-decrement-desired-capacity`,
      ]),
    );
    expect(failed.host.calls().some((call) => call.startsWith('systemctl enable --now sglang-'))).toBe(false);
  });

  it('fails (and scales in) when the instance has fewer GPUs than the layout', () => {
    const small = boot({ layout: 'tp8' }, {}, { STUB_GPUS: '4' });
    expect(small.output).toContain('raiden: the layout needs 8 GPUs but nvidia-smi lists 4');
    expect(small.host.calls()).toContain(
      `aws autoscaling terminate-instance-in-auto-scaling-group --region us-east-1 --instance-id ${STUB_INSTANCE_ID} --should-decrement-desired-capacity`,
    );
  });
});

describe('idle watchdog and max lifetime', () => {
  let run: BootRun;
  const terminate = `aws autoscaling terminate-instance-in-auto-scaling-group --region us-east-1 --instance-id ${STUB_INSTANCE_ID} --should-decrement-desired-capacity`;
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

  function watchdog(): { output: string; terminated: boolean } {
    const before = run.host.calls().length;
    const { output, status } = run.host.run(join(run.host.root, 'usr/local/bin/raiden-watchdog'));
    expect(status).toBe(0);
    return { output, terminated: run.host.calls().slice(before).includes(terminate) };
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
    const reason = /ExecStart=\/usr\/local\/bin\/raiden-scale-in "([^"]+)"/.exec(service)?.[1] ?? '';
    const before = run.host.calls().length;
    const { status, output } = run.host.run(join(run.host.root, 'usr/local/bin/raiden-scale-in'), {}, [reason]);
    expect(status).toBe(0);
    expect(reason).toBe('max lifetime of 12 hours reached');
    expect(output).toContain(`raiden-scale-in: terminating ${STUB_INSTANCE_ID}: max lifetime of 12 hours reached`);
    expect(run.host.calls().slice(before)).toEqual([
      `aws ec2 create-tags --region us-east-1 --resources ${STUB_INSTANCE_ID} --tags Key=raiden:state,Value=scaling-in`,
      terminate,
    ]);
  });
});
