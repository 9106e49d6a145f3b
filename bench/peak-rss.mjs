// Preloaded (`node --import`) into a CLI process by the bench and the memory test: on exit, writes the
// process's peak resident set size (KB) to $BENCH_PEAK_RSS_FILE, and its CPU time (ms) to $BENCH_CPU_FILE.
import { writeFileSync } from 'node:fs';

const rssFile = process.env.BENCH_PEAK_RSS_FILE;
const cpuFile = process.env.BENCH_CPU_FILE;
process.on('exit', () => {
  const usage = process.resourceUsage();
  if (rssFile) writeFileSync(rssFile, String(usage.maxRSS));
  if (cpuFile) writeFileSync(cpuFile, String((usage.userCPUTime + usage.systemCPUTime) / 1000));
});
