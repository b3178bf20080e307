// CPU time of other processes (the servers under load), from /proc/<pid>/stat: user + system
// ticks, including every thread. Linux only; elsewhere undefined, and the bench leaves the figure out.
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc (USER_HZ): 100 on every Linux this runs on. */
const TICKS_PER_SECOND = 100;

/** Milliseconds of CPU the processes used so far, or undefined when /proc cannot say. */
export function processCpuMs(pids: readonly number[]): number | undefined {
  let total = 0;
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return undefined;
    }
    // Fields after the command (which may hold spaces) in parentheses: utime is the 12th, stime the 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    total += ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  }
  return total;
}
