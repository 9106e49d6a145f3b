import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/** A process as a lock records its holder: enough to tell, from the same host, that it no longer exists. */
export interface ProcessIdentity {
  host: string;
  pid: number;
  /** The kernel instance (Linux); absent elsewhere. A PID means nothing across a reboot. */
  bootId?: string;
  /** The PID namespace (Linux): containers sharing a host name and a kernel do not share PIDs. */
  pidNamespace?: string;
}

/** A Linux fact, or undefined where it cannot be read (another OS, a locked-down /proc). */
function linuxFact(read: () => string): string | undefined {
  try {
    return read().trim() || undefined;
  } catch {
    return undefined;
  }
}

export function thisProcess(): ProcessIdentity {
  const bootId = linuxFact(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8'));
  const pidNamespace = linuxFact(() => readlinkSync('/proc/self/ns/pid'));
  return { host: hostname(), pid: process.pid, ...(bootId && { bootId }), ...(pidNamespace && { pidNamespace }) };
}

/**
 * Whether the recorded process certainly no longer exists. Only answerable for a process of this very kernel
 * and PID namespace under this host name; anything else (another host, a reboot or another machine of the same
 * name, a lock written without these facts) may be alive, and so is never taken for gone. A PID reused by a
 * new process, or a zombie, reads as alive: that only makes us wait for the lock to expire.
 */
export function isGoneFromHere(recorded: Partial<ProcessIdentity>, here: ProcessIdentity = thisProcess()): boolean {
  const { host, pid, bootId, pidNamespace } = recorded;
  if (here.bootId === undefined || here.pidNamespace === undefined || typeof pid !== 'number') return false;
  if (host !== here.host || bootId !== here.bootId || pidNamespace !== here.pidNamespace || pid === here.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    // EPERM: it exists, it is just not ours to signal.
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
