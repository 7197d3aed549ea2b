/**
 * This process as a run's writer: what run.lock records about it (pid, host, start time) and how a later
 * process tells whether the one that wrote a lock still runs, so a lock left by a crash or kill -9 is
 * taken over while a live run's lock is honoured.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { RunWriter, WriterLease } from '../core/run/run-manifest.ts';

export function processWriter(command: string, now: Date = new Date()): RunWriter {
  const host = hostname();
  const lease: WriterLease = {
    // The claim token tells apart two runs of one process (the tests run the CLI in process).
    writer: `${command} (pid ${process.pid} on ${host}, claim ${randomUUID().slice(0, 8)})`,
    claimed_at: now.toISOString(),
    pid: process.pid,
    host,
    ...optional('boot_id', bootId()),
    ...optional('process_start', processStart(process.pid)),
  };
  return { lease, isActive: async (holder) => isRunning(holder) };
}

/** Whether the process that wrote `holder` runs; true when that cannot be known (another host). */
function isRunning(holder: WriterLease): boolean {
  const { pid, host } = holder;
  if (typeof pid !== 'number' || host !== hostname()) return true;
  const boot = bootId();
  if (typeof holder.boot_id === 'string' && boot !== undefined && holder.boot_id !== boot) return false;
  if (!processExists(pid)) return false;
  // The pid was handed to another process since (a long uptime wraps pids around).
  const start = processStart(pid);
  return !(typeof holder.process_start === 'string' && start !== undefined && holder.process_start !== start);
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Linux: changes at every boot, so a lock from before a reboot is stale whatever its pid. */
function bootId(): string | undefined {
  return readProc('/proc/sys/kernel/random/boot_id')?.trim();
}

/** Linux: the process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat). */
function processStart(pid: number): string | undefined {
  const stat = readProc(`/proc/${pid}/stat`);
  // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function optional(key: string, value: string | undefined): Record<string, string> {
  return value === undefined ? {} : { [key]: value };
}
