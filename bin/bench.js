#!/usr/bin/env node
// `npm run bench`: the tool against the raw driver. The bench itself runs from its TypeScript sources through
// tsx (its own startup is not measured); the CLI it times is the compiled one, which `npm run bench` builds first.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../bench/main.ts');
process.exitCode = await main(process.argv.slice(2));
