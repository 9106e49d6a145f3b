// Preloaded (`node --import`) into a CLI process by the bench and the memory test: on exit,
// writes the process's peak resident set size (KB) to $BENCH_PEAK_RSS_FILE.
import { writeFileSync } from 'node:fs';

const file = process.env.BENCH_PEAK_RSS_FILE;
if (file) process.on('exit', () => writeFileSync(file, String(process.resourceUsage().maxRSS)));
