// Preloaded (`node --import`) into a CLI process by the startup test: appends the name of every package the
// process imports to $LOADED_PACKAGES_FILE, one a line, so the test can say what `--help` costs.
import { register } from 'node:module';

register(new URL('./loaded-packages-hook.mjs', import.meta.url), { data: { file: process.env.LOADED_PACKAGES_FILE } });
