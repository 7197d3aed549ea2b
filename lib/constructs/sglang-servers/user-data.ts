/**
 * Renders the fleet's user-data from the templates in userdata/: one job per file, each filled from an
 * explicit placeholder map. Pure (reads only the template files), so tests render and run it directly.
 *
 * EC2 caps user-data at 16 KB, which a few servers' units would pass. So the first job (settings, the
 * only one holding CloudFormation tokens) stays plain text and the other jobs travel gzipped and
 * base64-encoded; the boot script unpacks them to /var/lib/raiden/boot-jobs.sh and sources them.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { Token } from 'aws-cdk-lib';
import type { ServerSpec } from '../../fleet-layout.ts';
import { defaultServedModelName, modelCacheDirName, parseModelSource } from '../../model-source.ts';
import { NVME_MOUNT, SGLANG_READY_PATH } from '../../sglang-defaults.ts';
import {
  SGLANG_METRIC_DIMENSIONS,
  SGLANG_METRICS_NAMESPACE,
  SGLANG_SERVER_METRICS,
  STAGED_WEIGHTS_MARKER,
  stagedWeightsPrefix,
} from '../../../orchestrator/src/contract/deployed-names.ts';

export const USERDATA_DIR = fileURLToPath(new URL('../../../userdata/', import.meta.url));

/** The jobs of the boot script, in the order they run. */
export const USER_DATA_JOBS = [
  'settings.sh',
  'arm-max-lifetime.sh',
  'ship-logs.sh',
  'check-gpus.sh',
  'prepare-model-cache.sh',
  'fetch-secrets.sh',
  'install-sglang.sh',
  'stage-weights.sh',
  'write-server-units.sh',
  'start-servers.sh',
  'arm-idle-watchdog.sh',
] as const;

export const MODEL_CACHE = `${NVME_MOUNT}/models`;
export const SGLANG_VENV = '/opt/raiden/venv';
export const LOG_DIR = '/var/log/raiden';
/** `Authorization: Bearer <key>` for curl's -H @file: a header in curl's arguments would be readable with ps. */
export const AUTH_HEADER_FILE = '/etc/raiden/sglang-auth.header';
/** The bare API key, for the CloudWatch agent's Prometheus scraper (authorization.credentials_file). */
export const API_KEY_FILE = '/etc/raiden/sglang-api-key';
/** The agent's Prometheus scrape config: JSON, which is YAML, as Prometheus reads it. */
export const PROMETHEUS_CONFIG_FILE = '/etc/raiden/prometheus.yaml';
/** The scrape job; the agent names the metrics' log stream after it. */
export const SGLANG_SCRAPE_JOB = 'sglang-metrics';

/**
 * Runs sglang.launch_server with --api-key appended inside Python from the unit's EnvironmentFile, so the
 * key never appears in /proc/<pid>/cmdline, which any local user can read. sglang/launch_server.py parses
 * sys.argv[1:] under `if __name__ == "__main__"`, and runpy with alter_sys=True is what `python -m` does, so
 * SGLang and its multiprocessing children see exactly what they would then. Written without `$`, `%` and
 * double quotes, which systemd would expand or end the argument at.
 */
export const SGLANG_LAUNCHER =
  "import os, runpy, sys; sys.argv += ['--api-key', os.environ['SGLANG_API_KEY']]; " +
  "runpy.run_module('sglang.launch_server', run_name='__main__', alter_sys=True)";

// EC2 rejects user-data over 16 KB. Tokens (bucket and log group names, ARNs) grow when CloudFormation
// resolves them, so keep a margin.
const USER_DATA_LIMIT_BYTES = 16 * 1024;
const TOKEN_GROWTH_MARGIN_BYTES = 1024;
const PACKED_JOBS = '/var/lib/raiden/boot-jobs.sh';

export interface UserDataSettings {
  readonly region: string;
  readonly logGroupName: string;
  readonly apiKeySecretArn: string;
  /** Secret holding a Hugging Face token; omitted for public models or S3-staged weights. */
  readonly hfTokenSecretId?: string;
  /** The deployment's weights bucket, where `weights:<prefix>` models live. */
  readonly weightsBucketName: string;
  readonly servers: readonly ServerSpec[];
  readonly runtime: 'docker' | 'pip';
  readonly image: string;
  readonly pipVersion: string;
  readonly memFractionStatic: number;
  readonly contextLength?: number;
  readonly idleMinutes: number;
  readonly maxHours: number;
  readonly healthTimeoutMinutes: number;
}

/** The user-data as EC2 receives it: plain settings, then the other jobs gzipped. */
export function renderUserData(settings: UserDataSettings): string {
  const [settingsJob, ...jobs] = renderJobs(settings);
  const packedJobs = jobs.join('\n');
  if (Token.isUnresolved(packedJobs)) {
    throw new Error('user-data: only userdata/settings.sh may hold CloudFormation values; the other jobs are compressed');
  }
  const packed = gzipSync(packedJobs, { level: 9 })
    .toString('base64')
    .replace(/.{1,76}/g, '$&\n');
  const script =
    `${header()}${settingsJob}\n` +
    `# Jobs ${USER_DATA_JOBS.slice(1).join(', ')} from userdata/, gzipped for the 16 KB user-data limit.\n` +
    `base64 -d > "\${RAIDEN_ROOT}${PACKED_JOBS}.gz" <<'RAIDEN_JOBS'\n${packed}RAIDEN_JOBS\n` +
    `gunzip -f "\${RAIDEN_ROOT}${PACKED_JOBS}.gz"\n` +
    `# shellcheck source=/dev/null\n. "\${RAIDEN_ROOT}${PACKED_JOBS}"\n`;
  const bytes = Buffer.byteLength(script);
  if (bytes > USER_DATA_LIMIT_BYTES - TOKEN_GROWTH_MARGIN_BYTES) {
    throw new Error(
      `user-data is ${bytes} bytes, too close to EC2's ${USER_DATA_LIMIT_BYTES}-byte limit: use fewer servers, ` +
        `shorter model references or fewer extraArgs`,
    );
  }
  return script;
}

/** The same boot script uncompressed, as one readable file (for shellcheck and review). */
export function renderBootScript(settings: UserDataSettings): string {
  return `${header()}${renderJobs(settings).join('\n')}`;
}

function header(): string {
  return `#!/bin/bash\n# raiden GPU fleet boot script, rendered at synth time from userdata/.\n`;
}

function renderJobs(settings: UserDataSettings): string[] {
  const units = settings.servers.map((server) => serverUnitName(server));
  const ports = settings.servers.map((server) => String(server.port));
  const values: Record<string, string> = {
    REGION: shellQuote(settings.region),
    LOG_GROUP: shellQuote(settings.logGroupName),
    WEIGHTS_BUCKET: shellQuote(settings.weightsBucketName),
    API_KEY_SECRET: shellQuote(settings.apiKeySecretArn),
    HF_TOKEN_SECRET: shellQuote(settings.hfTokenSecretId ?? ''),
    SGLANG_RUNTIME: shellQuote(settings.runtime),
    SGLANG_IMAGE: shellQuote(settings.image),
    SGLANG_PIP_VERSION: shellQuote(settings.pipVersion),
    VENV: shellQuote(SGLANG_VENV),
    MODEL_CACHE: shellQuote(MODEL_CACHE),
    GPUS_NEEDED: String(new Set(settings.servers.flatMap((s) => s.gpus)).size),
    SERVER_UNITS: shellQuote(units.join(' ')),
    SERVER_PORTS: shellQuote(ports.join(' ')),
    HEALTH_TIMEOUT_SECONDS: String(settings.healthTimeoutMinutes * 60),
    IDLE_MINUTES: String(settings.idleMinutes),
    NVME_MOUNT,
    READY_PATH: SGLANG_READY_PATH,
    SCALE_IN_SCRIPT: readTemplate('raiden-scale-in.sh').trimEnd(),
    AUTH_HEADER_FILE,
    API_KEY_FILE,
    STAGED_MARKER: STAGED_WEIGHTS_MARKER,
    MAX_LIFETIME_SERVICE: renderTemplate('raiden-max-lifetime.service', { MAX_HOURS: String(settings.maxHours) }).trimEnd(),
    MAX_LIFETIME_TIMER: renderTemplate('raiden-max-lifetime.timer', { MAX_HOURS: String(settings.maxHours) }).trimEnd(),
    CLOUDWATCH_AGENT_CONFIG: cloudWatchAgentConfig(settings.servers),
    PROMETHEUS_CONFIG_FILE,
    PROMETHEUS_CONFIG: prometheusConfig(settings.servers),
    STAGE_COMMANDS: stageCommands(settings.servers),
    SERVER_UNIT_FILES: settings.servers
      .map((server) => heredoc(`/etc/systemd/system/${serverUnitName(server)}`, renderServerUnit(server, settings)))
      .join('\n'),
    WATCHDOG_SCRIPT: renderTemplate('raiden-watchdog.sh', { AUTH_HEADER_FILE }).trimEnd(),
    WATCHDOG_SERVICE: renderTemplate('raiden-watchdog.service', { IDLE_MINUTES: String(settings.idleMinutes) }).trimEnd(),
    WATCHDOG_TIMER: readTemplate('raiden-watchdog.timer').trimEnd(),
  };
  const used = new Set<string>();
  const jobs = USER_DATA_JOBS.map((job) => renderTemplate(job, values, used));
  const unused = Object.keys(values).filter((key) => !used.has(key));
  if (unused.length > 0) {
    throw new Error(`user-data placeholders ${unused.join(', ')} are filled but no template in ${USERDATA_DIR} uses them`);
  }
  return jobs;
}

/** One SGLang server's systemd unit. */
export function renderServerUnit(server: ServerSpec, settings: UserDataSettings): string {
  const source = parseModelSource(server.model);
  if (!source) throw new Error(`servers "${server.name}": model "${server.model}" is not a model reference`);
  if (server.dp !== 1) {
    throw new Error(
      `servers "${server.name}": dp ${server.dp} reached the unit renderer; run data-parallel replicas as servers of their own ` +
        `(replicaServers in lib/fleet-layout.ts), since SGLang binds an explicit --nccl-port once per DP rank`,
    );
  }
  const optional = [...(settings.contextLength ? ['--context-length', String(settings.contextLength)] : []), ...server.extraArgs];
  const container = `sglang-${server.name}`;
  const docker = settings.runtime === 'docker';
  return renderTemplate('sglang-server.service', {
    NAME: server.name,
    MODEL: server.model,
    CUDA_VISIBLE_DEVICES: server.gpus.join(','),
    PORT: String(server.port),
    NCCL_PORT: String(server.ncclPort),
    TP: String(server.tp),
    AFTER_UNITS: docker ? ' docker.service' : '',
    // A container left over from a crash would hold the name; the leading `-` ignores "no such container".
    EXEC_START_PRE: docker ? `ExecStartPre=-/usr/bin/docker rm -f ${container}\n` : '',
    // The container sees every GPU; CUDA_VISIBLE_DEVICES (passed through with -e) picks this server's.
    LAUNCH_COMMAND: docker
      ? `/usr/bin/docker run --rm --name ${container} --gpus all --network host --ipc host --ulimit memlock=-1 ` +
        `--ulimit stack=67108864 -e CUDA_VISIBLE_DEVICES --env-file /etc/raiden/sglang.env ` +
        `-v ${NVME_MOUNT}:${NVME_MOUNT} ${settings.image} python3`
      : `${SGLANG_VENV}/bin/python`,
    LAUNCHER: SGLANG_LAUNCHER,
    MODEL_PATH: `${MODEL_CACHE}/${modelCacheDirName(server.model)}`,
    SERVED_MODEL_NAME: defaultServedModelName(source),
    MEM_FRACTION_STATIC: String(settings.memFractionStatic),
    OPTIONAL_ARGS: optional.map((arg) => ` ${arg}`).join(''),
  });
}

export function serverUnitName(server: ServerSpec): string {
  return `sglang-${server.name}.service`;
}

/**
 * Fills every `{{NAME}}` in a template. A placeholder without a value is an error, so nothing is left
 * unreplaced; `used` collects the names a caller's map actually filled.
 */
export function renderTemplate(name: string, values: Readonly<Record<string, string>>, used?: Set<string>): string {
  const template = readTemplate(name);
  const missing = new Set<string>();
  const rendered = template.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_match, key: string) => {
    const value = values[key];
    if (value === undefined) {
      missing.add(key);
      return '';
    }
    used?.add(key);
    return value;
  });
  if (missing.size > 0) {
    throw new Error(`userdata/${name} uses placeholders with no value: ${[...missing].join(', ')}`);
  }
  if (!used) {
    const unused = Object.keys(values).filter((key) => !template.includes(`{{${key}}}`));
    if (unused.length > 0) throw new Error(`userdata/${name} has no placeholders ${unused.join(', ')}`);
  }
  return rendered;
}

/**
 * A template as written. Scripts installed on the instance keep their `#!` line: systemd's ExecStart runs
 * them with execve(2), which fails with ENOEXEC (status 203/EXEC) on a file without one.
 */
function readTemplate(name: string): string {
  return readFileSync(`${USERDATA_DIR}${name}`, 'utf8');
}

function stageCommands(servers: readonly ServerSpec[]): string {
  const models = [...new Set(servers.map((server) => server.model))];
  return models
    .map((model) => {
      const source = parseModelSource(model);
      const dir = shellQuote(modelCacheDirName(model));
      switch (source?.kind) {
        case 'huggingface':
          return `stage_model hf ${shellQuote(source.id)} ${dir} ${shellQuote(stagedWeightsPrefix(source.id))}`;
        case 'weights-bucket':
          return `stage_model s3 "s3://\${RAIDEN_WEIGHTS_BUCKET}"${shellQuote(`/${source.prefix}/`)} ${dir}`;
        case 's3':
          return `stage_model s3 ${shellQuote(`s3://${source.bucket}/${source.prefix}/`)} ${dir}`;
        default:
          throw new Error(`model "${model}" is not a model reference`);
      }
    })
    .join('\n');
}

/**
 * SGLang logs its ServerArgs at start-up, the API key included (`api_key='...'`, or `api_key="..."` when the
 * key holds a single quote); the agent drops such a line instead of shipping it. The agent's `filters` take
 * exclude entries with a regular expression: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Agent-Configuration-File-Details.html
 */
export const SECRET_LOG_LINE = `api_key=['"]`;

/**
 * Agent config: the log files, and SGLang's /metrics scraped into CloudWatch metrics. The agent sends those
 * as embedded-metric-format events to the server log group (PutLogEvents), and CloudWatch extracts the
 * metrics from them. Written with an unquoted heredoc, so the shell fills in ${RAIDEN_LOG_GROUP}; the
 * selectors' `$` anchors, followed by a quote, stay as they are.
 */
function cloudWatchAgentConfig(servers: readonly ServerSpec[]): string {
  const files = ['user-data', 'watchdog', 'max-lifetime', ...servers.map((server) => `sglang-${server.name}`)];
  const metricNames = Object.keys(SGLANG_SERVER_METRICS);
  const config = {
    // Root, to read the root-only key file the scraper authenticates with.
    agent: { run_as_user: 'root' },
    logs: {
      force_flush_interval: 5,
      logs_collected: {
        files: {
          collect_list: files.map((file) => ({
            file_path: `${LOG_DIR}/${file}.log`,
            log_group_name: '${RAIDEN_LOG_GROUP}',
            log_stream_name: `{instance_id}/${file}`,
            filters: [{ type: 'exclude', expression: SECRET_LOG_LINE }],
          })),
        },
      },
      metrics_collected: {
        prometheus: {
          log_group_name: '${RAIDEN_LOG_GROUP}',
          prometheus_config_path: PROMETHEUS_CONFIG_FILE,
          emf_processor: {
            metric_declaration_dedup: true,
            metric_namespace: SGLANG_METRICS_NAMESPACE,
            metric_unit: SGLANG_SERVER_METRICS,
            metric_declaration: [
              {
                source_labels: ['job'],
                label_matcher: `^${SGLANG_SCRAPE_JOB}$`,
                dimensions: [[...SGLANG_METRIC_DIMENSIONS]],
                metric_selectors: metricNames.map((name) => `^${name}$`),
              },
            ],
          },
        },
      },
    },
  };
  return JSON.stringify(config, undefined, 1);
}

/**
 * Prometheus scrape config for every server on this instance. The key comes from a root-only file that
 * Prometheus reads at each scrape (so it may appear after the agent starts, once fetch-secrets has run),
 * never from this config. The labels become the metrics' dimensions; the shell fills in the instance id.
 */
function prometheusConfig(servers: readonly ServerSpec[]): string {
  const [instanceId, server] = SGLANG_METRIC_DIMENSIONS;
  const config = {
    global: { scrape_interval: '1m', scrape_timeout: '10s' },
    scrape_configs: [
      {
        job_name: SGLANG_SCRAPE_JOB,
        authorization: { type: 'Bearer', credentials_file: API_KEY_FILE },
        static_configs: servers.map((spec) => ({
          targets: [`127.0.0.1:${spec.port}`],
          labels: { [instanceId]: '${RAIDEN_INSTANCE_ID}', [server]: spec.name },
        })),
      },
    ],
  };
  return JSON.stringify(config, undefined, 1);
}

function heredoc(path: string, content: string): string {
  return `cat > "\${RAIDEN_ROOT}${path}" <<'RAIDEN_UNIT'\n${content.trimEnd()}\nRAIDEN_UNIT`;
}

/** Single-quotes a value for bash. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
