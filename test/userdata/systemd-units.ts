/**
 * The generated systemd units read and started the way systemd reads and starts them: ExecStart split into
 * words by systemd's rules (quotes group, `${VAR}` expands inside a word, a lone `$VAR` splits into words),
 * Environment= and EnvironmentFile= applied, and the command started with execve(2). Plus the two checks
 * systemd makes before starting anything: `systemd-analyze verify`, and that every command is an
 * executable file execve accepts (a `#!` line or an ELF header).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execFile, type StubHost } from './stub-host.ts';

const COMMAND_KEYS = ['ExecStartPre', 'ExecStart', 'ExecStartPost', 'ExecStop', 'ExecStopPost', 'ExecReload'];

export interface UnitCommand {
  readonly key: string;
  readonly argv: readonly string[];
}

/** Every `Key=value` line of a unit, comments and section headers left out. */
export function unitEntries(text: string): [string, string][] {
  return text
    .split('\n')
    .filter((line) => /^[A-Za-z]+=/u.test(line))
    .map((line) => {
      const at = line.indexOf('=');
      return [line.slice(0, at), line.slice(at + 1)];
    });
}

/** systemd's word splitting of a command line (quotes group; backslash escapes the next character). */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let quote: string | undefined;
  let started = false;
  for (let i = 0; i < line.length; i++) {
    const char = line[i] as string;
    if (char === '\\' && i + 1 < line.length) {
      word += line[++i];
      started = true;
    } else if (quote !== undefined) {
      if (char === quote) quote = undefined;
      else word += char;
    } else if (char === '"' || char === "'") {
      quote = char;
      started = true;
    } else if (/\s/u.test(char)) {
      if (started) words.push(word);
      word = '';
      started = false;
    } else {
      word += char;
      started = true;
    }
  }
  if (started) words.push(word);
  return words;
}

/** Environment= and EnvironmentFile= of a unit, the file read from under the host's root. */
export function unitEnvironment(text: string, root: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of unitEntries(text)) {
    if (key === 'Environment') {
      for (const assignment of splitWords(value)) {
        const at = assignment.indexOf('=');
        env[assignment.slice(0, at)] = assignment.slice(at + 1);
      }
    } else if (key === 'EnvironmentFile') {
      const optional = value.startsWith('-');
      const path = join(root, value.replace(/^-/u, ''));
      if (optional && !existsSync(path)) continue;
      for (const line of readFileSync(path, 'utf8').split('\n')) {
        const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/u.exec(line.trim());
        if (match) env[match[1] as string] = (match[2] as string).replace(/^"(.*)"$/u, '$1');
      }
    }
  }
  return env;
}

/** The unit's commands as systemd would exec them, variables expanded from the unit's environment. */
export function unitCommands(text: string, env: Readonly<Record<string, string>>): UnitCommand[] {
  return unitEntries(text)
    .filter(([key]) => COMMAND_KEYS.includes(key))
    .map(([key, value]) => {
      const argv = splitWords(value.replace(/^[-@:+!]+/u, '')).flatMap((word) => {
        const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/u.exec(word);
        if (whole) return (env[whole[1] as string] ?? '').split(/\s+/u).filter(Boolean);
        return [word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/gu, (_match, name: string) => env[name] ?? '')];
      });
      return { key, argv };
    });
}

/** Why execve(2) would refuse each command of a unit: missing, not executable, or neither `#!` nor ELF. */
export function execTargetProblems(text: string, root: string): string[] {
  return unitCommands(text, {}).flatMap(({ key, argv }) => {
    const command = argv[0] ?? '';
    const path = join(root, command);
    if (!command.startsWith('/')) return [`${key}: ${command} is not an absolute path`];
    if (!existsSync(path)) return [`${key}: ${command} does not exist`];
    const stat = statSync(path);
    if (!stat.isFile() || (stat.mode & 0o111) === 0) return [`${key}: ${command} is not an executable file`];
    const head = readFileSync(path).subarray(0, 4);
    const runnable = head.subarray(0, 2).toString() === '#!' || head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
    return runnable ? [] : [`${key}: ${command} has no #! line: execve fails with ENOEXEC (status 203/EXEC)`];
  });
}

/** Starts a unit's ExecStart on the stub host as systemd would: its environment, execve, no shell. */
export function startUnit(host: StubHost, unitPath: string): { status: number | null; output: string } {
  const text = host.read(unitPath);
  const env = unitEnvironment(text, host.root);
  const start = unitCommands(text, env).find((command) => command.key === 'ExecStart');
  if (start === undefined) throw new Error(`${unitPath} has no ExecStart`);
  const [command = '', ...args] = start.argv;
  return execFile(join(host.root, command), args, { ...host.env, ...env });
}

/**
 * `systemd-analyze verify` of units under the host's root, as systemd would load them there. The units'
 * dependencies (multi-user.target, network-online.target, ...) come from this machine's systemd.
 */
export function systemdVerify(host: StubHost, units: readonly string[]): { status: number | null; output: string } {
  const systemUnits = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((dir) => existsSync(join(dir, 'multi-user.target')));
  const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  if (probe.error || systemUnits === undefined) {
    throw new Error('systemd-analyze is not installed (apt-get install systemd); .ci/run installs it');
  }
  const target = join(host.root, 'usr/lib/systemd/system');
  if (!existsSync(target)) cpSync(systemUnits, target, { recursive: true, dereference: false, verbatimSymlinks: true });
  const result = spawnSync(
    'systemd-analyze',
    ['verify', `--root=${host.root}`, '--man=no', ...units.map((unit) => `/etc/systemd/system/${unit}`)],
    { encoding: 'utf8', env: { ...process.env, SYSTEMD_LOG_COLOR: '0' } },
  );
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}
